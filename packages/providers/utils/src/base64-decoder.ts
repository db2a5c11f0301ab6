/**
 * The base64 Content-Transfer-Encoding decoder the MIME parser uses for every base64 part (most
 * attachments and many text bodies), in place of libbase64's `Decoder`, which mailsplit creates.
 *
 * Why our own: decoding was the largest single cost of reading client mail in `bench:sync`
 * (libbase64 took 0.47 s of the main thread's 3.2 s in a 20,000-message backfill, and allocated
 * 290 MiB). For every chunk libbase64 builds a string, strips the characters that are not base64
 * with a regular expression into a second string, then slices and checks it again before Node
 * decodes it. Here a chunk of base64 lines (the common case: nothing but base64 characters and
 * line breaks before the padding) goes to Node's decoder as it is, which skips the line breaks
 * itself; the length of what comes out tells whether the chunk held anything else (checking it
 * with a pattern first cost twice as much as decoding it), and only the characters past the last
 * whole quantum are cut off for the next chunk. Anything else (padding, stray spaces, 8-bit
 * bytes) has its base64 bytes gathered with a table lookup, then decoded as libbase64 does.
 *
 * The output is libbase64's, byte for byte, for any input cut into any chunks (a property test
 * checks it against libbase64 itself): bytes outside `A–Z a–z 0–9 + / =` are skipped; everything
 * up to the last `=` seen is decoded, one padded segment after another; after it, only whole
 * quanta of four characters are decoded and the rest waits for the next chunk (or the end).
 */
import { Transform, type TransformCallback } from "node:stream";

const EQUALS = 0x3d;
const CR = 0x0d;
const LF = 0x0a;
/** base64url's two characters, which Node's decoder takes and libbase64 skips. */
const DASH = 0x2d;
const UNDERSCORE = 0x5f;

/** `bytes` without CR and LF (a few characters, left for the next chunk). */
function withoutBreaks(bytes: Buffer): Buffer {
  const kept: number[] = [];
  for (const byte of bytes) if (byte !== CR && byte !== LF) kept.push(byte);
  return Buffer.from(kept);
}

/** 1 for a byte libbase64 keeps (a base64 character or `=`), 0 for one it skips. */
const keptByte = new Uint8Array(256);
for (const char of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
  keptByte[char.charCodeAt(0)] = 1;

/** Whether a base64 character follows position `from` (the bytes are base64 characters and `=` only). */
function moreAfter(bytes: Buffer, from: number, end: number): boolean {
  for (let i = from; i < end; i++) {
    const byte = bytes[i]!;
    if (byte !== EQUALS) return true;
  }
  return false;
}

/**
 * Decodes `bytes[0, end)` (base64 characters and `=` only), as libbase64's `decode`: in one go
 * when no character follows the first `=`, else segment by segment between the `=` signs (Node
 * stops decoding at the first padding character).
 */
function decodeKept(bytes: Buffer, end: number): Buffer {
  const firstPad = bytes.subarray(0, end).indexOf(EQUALS);
  if (firstPad < 0 || !moreAfter(bytes, firstPad, end))
    return Buffer.from(bytes.toString("latin1", 0, end), "base64");
  const output = Buffer.alloc(Math.floor((end * 3) / 4));
  let length = 0;
  let start = 0;
  while (start <= end) {
    let stop = bytes.indexOf(EQUALS, start);
    if (stop < 0 || stop > end) stop = end;
    if (stop > start) length += output.write(bytes.toString("latin1", start, stop), length, "base64");
    start = stop + 1;
  }
  return Buffer.from(output.subarray(0, length));
}

/** A streaming base64 decoder (a Transform: encoded bytes in, decoded bytes out). */
export class Base64Decoder extends Transform {
  /** Base64 characters after the last `=`, fewer than a quantum, waiting for the next chunk. */
  private carry: Buffer = Buffer.alloc(0);
  /** Where a chunk's base64 bytes are gathered; reused, as each chunk is decoded before the next. */
  private scratch: Buffer = Buffer.alloc(0);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (chunk.length === 0) return done();
    // Padding comes at the end of a part: what precedes the first `=` takes the common case.
    const pad = chunk.indexOf(EQUALS);
    const head = pad < 0 ? chunk : chunk.subarray(0, pad);
    if (head.length > 0 && !this.wholeLines(head)) this.anyBytes(head);
    if (pad >= 0) this.anyBytes(chunk.subarray(pad));
    done();
  }

  /**
   * The common case: base64 characters and line breaks only (no `=`, which the caller checked).
   * Node's decoder skips the line breaks itself; the characters past the last whole quantum wait
   * for the next chunk. Returns false, having done nothing, for any other chunk.
   *
   * The chunk is not scanned for other bytes beforehand: Node's decoder skips them too, so over
   * whole quanta a chunk with any of them decodes to fewer than three bytes per four characters
   * counted, and the length of the output tells. Only `-` and `_`, which Node reads as base64url
   * and libbase64 skips, are looked for (natively), and the few characters left for the next chunk
   * are checked one by one.
   */
  private wholeLines(chunk: Buffer): boolean {
    if (chunk.indexOf(DASH) >= 0 || chunk.indexOf(UNDERSCORE) >= 0) return false;
    let breaks = 0;
    for (let i = chunk.indexOf(LF); i >= 0; i = chunk.indexOf(LF, i + 1)) breaks++;
    for (let i = chunk.indexOf(CR); i >= 0; i = chunk.indexOf(CR, i + 1)) breaks++;
    const total = this.carry.length + chunk.length - breaks;
    let left = total % 4;
    let cut = chunk.length;
    while (left > 0 || (cut > 0 && total < 4)) {
      cut--;
      const byte = chunk[cut]!;
      if (byte === LF || byte === CR) continue;
      if (keptByte[byte] !== 1) return false;
      left--;
    }
    const waiting = chunk.subarray(cut);
    if (total < 4) {
      // Not a quantum yet: all of it waits (only then can the carry be part of what waits).
      this.carry = Buffer.concat([this.carry, withoutBreaks(waiting)]);
      return true;
    }
    const decoded = Buffer.from(this.carry.toString("latin1") + chunk.toString("latin1", 0, cut), "base64");
    if (decoded.length !== ((total - (total % 4)) / 4) * 3) return false;
    this.carry = withoutBreaks(waiting);
    this.push(decoded);
    return true;
  }

  /** Any chunk: its base64 bytes gathered with the carry, then decoded as libbase64 does. */
  private anyBytes(chunk: Buffer): void {
    // The carry never holds a `=`: it is what follows the last one.
    const carried = this.carry.length;
    if (this.scratch.length < carried + chunk.length)
      this.scratch = Buffer.allocUnsafe(carried + chunk.length);
    const kept = this.scratch;
    this.carry.copy(kept, 0);
    let end = carried;
    let lastPad = -1;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (keptByte[byte] === 1) {
        if (byte === EQUALS) lastPad = end;
        kept[end++] = byte;
      }
    }
    // Everything up to the last `=` is decoded; after it, whole quanta only.
    const tailStart = lastPad + 1;
    const tail = end - tailStart;
    const whole = tail < 4 ? 0 : tail - (tail % 4);
    const decodeEnd = tailStart + whole;
    this.carry = Buffer.from(kept.subarray(decodeEnd, end));
    if (decodeEnd > 0) this.push(decodeKept(kept, decodeEnd));
  }

  override _flush(done: TransformCallback): void {
    if (this.carry.length > 0) this.push(decodeKept(this.carry, this.carry.length));
    this.carry = Buffer.alloc(0);
    this.scratch = Buffer.alloc(0);
    done();
  }
}
