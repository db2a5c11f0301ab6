/**
 * The forms an address may take in a header, for server-side searches (Y5). Addresses are
 * normalised with their domain in ASCII (T12), but mail written by an SMTPUTF8 client carries
 * the Unicode domain (`kunde@bücher.example`) and servers match header text as written, so a
 * search for the ASCII form alone misses it.
 */
import { domainToUnicode } from "node:url";

/**
 * `address` (normalised: lower case, ASCII domain) and, when its domain is an IDN, the same
 * address with the Unicode domain. The ASCII form comes first.
 */
export function addressSearchForms(address: string): string[] {
  const at = address.lastIndexOf("@");
  if (at < 0) return [address];
  const domain = address.slice(at + 1);
  if (!/(^|\.)xn--/i.test(domain)) return [address];
  const unicode = domainToUnicode(domain);
  if (unicode === "" || unicode === domain) return [address];
  return [address, `${address.slice(0, at + 1)}${unicode}`];
}
