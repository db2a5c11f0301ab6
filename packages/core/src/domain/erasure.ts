/**
 * R10: erasing a contact. What is erased is decided here; the facade carries it out.
 *
 * - Which mail: every filed message filed through one of the contact's links, and every filed
 *   message with one of the contact's addresses among its participants (even when filed through
 *   another client's link): the headers and body of such a message are the contact's personal
 *   data too, and keeping it would keep them.
 * - Never again: each erased address leaves a tombstone, an opaque hash bound to the firm, so
 *   filing can refuse any message with that participant on every later sync (see
 *   {@link FirmDirectory}) without the store keeping the address itself.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import type { FirmId } from "./model.js";

/**
 * R10: the tombstone of an erased address in a firm: hex SHA-256 of a versioned, firm-bound
 * string. The address must be normalised (T12) so that every spelling of it meets the same
 * tombstone. A hash of an address can be confirmed by someone who guesses the address; it
 * cannot be listed back, which is what an erasure needs from it.
 */
export function erasureTombstone(firmId: FirmId, address: string): string {
  return bytesToHex(sha256(utf8ToBytes(`clientmail.erasure.v1\u0000${firmId}\u0000${address}`)));
}
