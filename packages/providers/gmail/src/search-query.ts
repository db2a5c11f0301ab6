/**
 * Builds Gmail `q` strings for a participant search (Y5). Each address is matched as sender or
 * any recipient; the API does no alias expansion and no thread-wide matching, so every term is
 * about one message, which is what filing needs.
 */

function dateTerms(since: Date | undefined, before: Date | undefined): string {
  // Epoch seconds: bare dates would be read as midnight Pacific time.
  const terms: string[] = [];
  if (since) terms.push(`after:${Math.floor(since.getTime() / 1000)}`);
  if (before) terms.push(`before:${Math.ceil(before.getTime() / 1000)}`);
  terms.push("-in:drafts");
  return terms.join(" ");
}

function addressTerm(address: string): string {
  const quoted = /[\s(){}"]/.test(address) ? `"${address.replace(/"/g, "")}"` : address;
  return `from:${quoted} to:${quoted} cc:${quoted} bcc:${quoted}`;
}

/**
 * Splits the addresses into as few `q` strings as fit `maxLength` characters each:
 * `{from:a to:a cc:a bcc:a from:b …} after:… before:… -in:drafts`. An address whose term alone
 * exceeds the limit still gets a query of its own.
 */
export function buildParticipantQueries(
  addresses: readonly string[],
  options: { since?: Date | undefined; before?: Date | undefined; maxLength: number },
): string[] {
  const suffix = dateTerms(options.since, options.before);
  const fixed = 2 + 1 + suffix.length; // braces, space, suffix
  const queries: string[] = [];
  let current: string[] = [];
  let length = fixed;
  for (const address of [...new Set(addresses)]) {
    const term = addressTerm(address);
    const added = term.length + (current.length > 0 ? 1 : 0);
    if (current.length > 0 && length + added > options.maxLength) {
      queries.push(`{${current.join(" ")}} ${suffix}`);
      current = [];
      length = fixed;
    }
    current.push(term);
    length += term.length + (current.length > 1 ? 1 : 0);
  }
  if (current.length > 0) queries.push(`{${current.join(" ")}} ${suffix}`);
  return queries;
}
