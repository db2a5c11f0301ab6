/**
 * Email addresses: parsing RFC 5322 address lists and normalising addresses on entry (T12).
 * Parsing is delegated to `email-addresses`; what is ours is normalisation and the error shape.
 */
import emailAddresses from "email-addresses";
import { ValidationError } from "../errors.js";
import type { EmailAddress } from "./envelope.js";

const encodedWord = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text.replace(/[^A-Za-z0-9+/=]/g, ""));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function decodeQ(text: string): Uint8Array {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "_") bytes.push(0x20);
    else if (ch === "=" && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(ch.charCodeAt(0) & 0xff);
  }
  return Uint8Array.from(bytes);
}

/**
 * Decodes RFC 2047 encoded words (`=?UTF-8?B?...?=`) in a header phrase. Whitespace between two
 * adjacent encoded words is dropped, as the RFC requires. A word in an unknown charset or with
 * broken encoding is left as it was.
 */
export function decodeEncodedWords(text: string): string {
  // Most header values have no encoded word: both patterns below need "=?" to match.
  if (!text.includes("=?")) return text;
  const joined = text.replace(/(\?=)\s+(?==\?)/g, "$1");
  return joined.replace(encodedWord, (word, charset: string, encoding: string, payload: string) => {
    try {
      const bytes = encoding.toUpperCase() === "B" ? decodeBase64(payload) : decodeQ(payload);
      return new TextDecoder(charset.split("*")[0]!.toLowerCase(), { fatal: true }).decode(bytes);
    } catch {
      return word;
    }
  });
}

const asciiDomain =
  /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const literalDomain = /^\[[^\][\\\s]+\]$/;

/** Converts a domain to lower-case ASCII (IDNA / UTS #46), or returns undefined when it is not a valid host name. */
export function domainToAscii(domain: string): string | undefined {
  const trimmed = domain.trim().replace(/\.$/, "");
  if (trimmed === "" || /[\s/\\?#@:]/.test(trimmed)) return undefined;
  let ascii: string;
  try {
    ascii = new URL(`http://${trimmed}`).hostname;
  } catch {
    return undefined;
  }
  ascii = ascii.toLowerCase();
  if (!asciiDomain.test(ascii) || !ascii.includes(".")) return undefined;
  return ascii;
}

function invalid(field: string, value: unknown, expected: string): ValidationError {
  return new ValidationError([{ field, value, expected }]);
}

const addressExpectation = "an email address like name@example.com";

/**
 * Format characters — zero-width space, (non-)joiners, word joiner, BOM, soft hyphen, bidi marks:
 * invisible when typed or pasted, never meant as part of an address.
 */
const invisible = /\p{Cf}/gu;
/** Space separators (no-break, narrow no-break, ideographic, ...) count as the ASCII space. */
const unicodeSpace = /\p{Zs}/gu;
/** Control characters (C0, DEL, C1): never part of an address (a CR/LF would also inject a header). */
const control = /\p{Cc}/u;
/** Half a UTF-16 surrogate pair: no character at all, and not storable in PostgreSQL (R4). */
const loneSurrogate = /\p{Cs}/u;

/** Drops invisible characters, makes every space an ASCII space, composes (NFC). */
function clean(text: string): string {
  return text.replace(invisible, "").replace(unicodeSpace, " ").normalize("NFC");
}

/**
 * Validates and normalises one bare address (T12), so that an address typed in the CRM and the
 * same address read from a mail header (see {@link parseAddressList}) are the same string:
 * invisible characters (zero-width space/joiners, BOM, soft hyphen) are dropped, no-break and
 * other Unicode spaces count as spaces and are trimmed, the text is composed (NFC), a single
 * trailing dot of the domain is dropped, everything is lower-cased and an IDN domain is given in
 * ASCII form. Throws a {@link ValidationError} naming `field`, the value and what was expected
 * when it is still not one valid address (a space inside it, control characters, a display name).
 */
export function normalizeAddress(input: string, field = "email"): string {
  if (typeof input !== "string") throw invalid(field, input, addressExpectation);
  if (control.test(input) || loneSurrogate.test(input)) {
    throw invalid(field, input, `${addressExpectation}, without control characters or lone surrogates`);
  }
  // One trailing dot is the DNS root ("example.com." is "example.com"); two are a typo.
  const text = clean(input)
    .trim()
    .replace(/(@[^@]*[^.@])\.$/, "$1");
  if (text === "" || text.length > 320) throw invalid(field, input, addressExpectation);
  const parsed = emailAddresses.parseOneAddress({ input: text, rfc6532: true, rejectTLD: true });
  if (!parsed || parsed.type !== "mailbox" || parsed.name) throw invalid(field, input, addressExpectation);
  return normalizeParts(parsed, field, input);
}

/** True when the parsed local part was a quoted string (comments around it aside). */
function isQuoted(part: emailAddresses.ASTNode): boolean {
  return part.tokens
    .replace(/\([^()]*\)/g, "")
    .trim()
    .startsWith('"');
}

/** The normal form of a parsed mailbox's address; the one place both typed and header addresses go through. */
function normalizeParts(mailbox: emailAddresses.ParsedMailbox, field: string, original: unknown): string {
  let local = clean(mailbox.local);
  if (!isQuoted(mailbox.parts.local)) {
    // A no-break space before the "@" is a paste artefact; one inside a bare local part makes
    // it no address at all, as a typed space does.
    local = local.trim();
    if (/\s/.test(local)) throw invalid(field, original, addressExpectation);
  }
  if (local.length === 0 || local.length > 64) throw invalid(field, original, addressExpectation);
  const domain = clean(mailbox.domain).trim();
  const asciiDomainName = literalDomain.test(domain) ? domain.toLowerCase() : domainToAscii(domain);
  if (!asciiDomainName)
    throw invalid(field, original, `${addressExpectation} (domain ${JSON.stringify(domain)} is not valid)`);
  const localPart = /^[!#$%&'*+/=?^_`{|}~.\-\p{L}\p{M}\p{N}]+$/u.test(local)
    ? local
    : `"${local.replace(/(["\\])/g, "\\$1")}"`;
  return `${localPart}@${asciiDomainName}`.toLowerCase();
}

/** True when `input` is a single valid address (see {@link normalizeAddress}). */
export function isValidAddress(input: string): boolean {
  try {
    normalizeAddress(input);
    return true;
  } catch {
    return false;
  }
}

/** Options of {@link parseAddressList}. */
export interface ParseAddressListOptions {
  /** The field being parsed, named in errors. */
  field?: string;
  /**
   * When true, unparseable input throws. When false (the default for headers of synced mail),
   * the addresses that can be recovered are returned and the rest ignored: a malformed header
   * in someone's mail must never stop a sync.
   */
  strict?: boolean;
}

/**
 * Parses an RFC 5322 address list: display names (quoted or encoded words), quoted local parts,
 * groups (their members are returned, flattened), comments. Returns normalised addresses.
 */
export function parseAddressList(input: string, options: ParseAddressListOptions = {}): EmailAddress[] {
  const field = options.field ?? "addresses";
  const strict = options.strict ?? false;
  if (typeof input !== "string") {
    if (strict) throw invalid(field, input, "an RFC 5322 address list");
    return [];
  }
  const text = input.replace(/\r?\n[ \t]/g, " ").trim();
  if (text === "") return [];
  const parsed = emailAddresses.parseAddressList({ input: text, rfc6532: true, rejectTLD: false });
  if (!parsed) {
    if (strict)
      throw invalid(field, input, 'an RFC 5322 address list like "Ann <ann@example.com>, bob@example.com"');
    return recoverAddresses(text);
  }
  const result: EmailAddress[] = [];
  const push = (mailbox: emailAddresses.ParsedMailbox) => {
    try {
      const address = normalizeParts(mailbox, field, mailbox.address);
      const name = mailbox.name ? decodeEncodedWords(mailbox.name).trim() : undefined;
      result.push(name ? { name, address } : { address });
    } catch (error) {
      if (strict) throw error;
    }
  };
  for (const entry of parsed) {
    if (entry.type === "group") entry.addresses.forEach(push);
    else push(entry);
  }
  return result;
}

const looseAddress = /[^\s<>(),;:"@]+@[^\s<>(),;:"@]+/g;

/**
 * The entries of an address list the RFC 5322 parser refused, split at top-level commas and
 * semicolons, with quoted strings and comments removed: both are display text, never an address.
 * A quote or comment that never closes is taken as an ordinary character.
 */
function splitEntries(text: string): string[] {
  const entries: string[] = [];
  let current = "";
  let inQuote = false;
  let quoteStart = 0;
  let depth = 0;
  let commentStart = 0;
  let inAngle = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inQuote) {
      if (ch === "\\") i++;
      else if (ch === '"') inQuote = false;
    } else if (depth > 0) {
      if (ch === "\\") i++;
      else if (ch === "(") depth++;
      else if (ch === ")") depth--;
    } else if (ch === '"' && !inAngle) {
      inQuote = true;
      quoteStart = i;
    } else if (ch === "(" && !inAngle) {
      depth = 1;
      commentStart = i;
    } else if ((ch === "," || ch === ";") && !inAngle) {
      entries.push(current);
      current = "";
    } else {
      if (ch === "<") inAngle = true;
      else if (ch === ">") inAngle = false;
      current += ch;
    }
  }
  if (inQuote) return splitEntries(text.slice(0, quoteStart) + text.slice(quoteStart + 1));
  if (depth > 0) return splitEntries(text.slice(0, commentStart) + text.slice(commentStart + 1));
  entries.push(current);
  return entries;
}

/**
 * Best effort for a header the RFC 5322 parser refused. In an entry with angle brackets only what
 * is inside them is an address: the text before is the display name, even when it looks like an
 * address (`jo@home.example <attacker@evil.example>` is attacker's mail). An entry without
 * brackets contributes every address-like word.
 */
function recoverAddresses(text: string): EmailAddress[] {
  const found: EmailAddress[] = [];
  for (const raw of splitEntries(text)) {
    // Spaces around the "@" are allowed by RFC 5322's obsolete syntax, and a pasted no-break space is common.
    const entry = clean(raw).replace(/\s*@\s*/g, "@");
    const candidates = entry.includes("<")
      ? entry
          .split("<")
          .slice(1)
          .map((part) => part.split(">")[0]!)
      : (entry.match(looseAddress) ?? []);
    for (const candidate of candidates) {
      try {
        found.push({ address: normalizeAddress(candidate) });
      } catch {
        // not an address after all
      }
    }
  }
  return found;
}

/** The domain part of a normalised address. */
export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1);
}
