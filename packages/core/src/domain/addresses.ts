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
 * Validates and normalises one bare address (T12): trimmed, lower-cased, IDN domain in ASCII form.
 * Throws a {@link ValidationError} naming `field` and the value when it is not a valid address.
 */
export function normalizeAddress(input: string, field = "email"): string {
  if (typeof input !== "string") throw invalid(field, input, addressExpectation);
  const trimmed = input.trim();
  if (trimmed === "" || trimmed.length > 320 || /[\r\n\0]/.test(trimmed)) {
    throw invalid(field, input, addressExpectation);
  }
  const parsed = emailAddresses.parseOneAddress({ input: trimmed, rfc6532: true, rejectTLD: true });
  if (!parsed || parsed.type !== "mailbox" || parsed.name) throw invalid(field, input, addressExpectation);
  return normalizeParts(parsed.local, parsed.domain, field, input);
}

function normalizeParts(local: string, domain: string, field: string, original: unknown): string {
  if (local.length === 0 || local.length > 64) throw invalid(field, original, addressExpectation);
  const asciiDomainName = literalDomain.test(domain) ? domain.toLowerCase() : domainToAscii(domain);
  if (!asciiDomainName)
    throw invalid(field, original, `${addressExpectation} (domain ${JSON.stringify(domain)} is not valid)`);
  const localPart = /^[!#$%&'*+/=?^_`{|}~.\-\p{L}\p{N}]+$/u.test(local)
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
      const address = normalizeParts(mailbox.local, mailbox.domain, field, mailbox.address);
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

function recoverAddresses(text: string): EmailAddress[] {
  const found: EmailAddress[] = [];
  for (const match of text.matchAll(looseAddress)) {
    try {
      found.push({ address: normalizeAddress(match[0]) });
    } catch {
      // not an address after all
    }
  }
  return found;
}

/** The domain part of a normalised address. */
export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1);
}
