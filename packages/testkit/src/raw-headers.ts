/** Reading the header block of raw RFC 822 text in tests, without a MIME parser. */

/** The header block of a raw message as lower-cased name → unfolded values. */
export function headersOfRaw(raw: Buffer): Map<string, string[]> {
  const text = raw.toString("utf8");
  const end = text.search(/\r?\n\r?\n/);
  const block = (end < 0 ? text : text.slice(0, end)).replace(/\r?\n(?=[ \t])/g, "");
  const headers = new Map<string, string[]>();
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return headers;
}
