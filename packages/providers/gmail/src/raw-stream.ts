/**
 * R7: a `messages.get?format=raw` answer read as a stream. Gmail sends the source as one base64url
 * string inside a JSON object; parsed whole, a 35 MiB message costs 47 MiB of JSON text, the
 * parsed string and the decoded bytes at once. {@link RawMessageReader} decodes the `raw` value
 * chunk by chunk as it arrives and keeps only the rest of the object (ids, labels, dates: a few
 * hundred bytes), which is parsed at the end with `raw` left empty.
 *
 * It follows JSON strings and escapes, so a `"raw"` inside another value (a snippet) is never
 * taken for the field; and it fails with `truncatedBody` when the answer ends before the object
 * does (a dropped connection), so a cut-off source is never passed on as a whole one.
 */
import { toClientMailError } from "./errors.js";
import type { GmailMessageResource } from "./envelope.js";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

/** Reads one `format=raw` answer; see the module comment. */
export class RawMessageReader {
  /** The JSON text without the `raw` value. */
  private readonly rest: Buffer[] = [];
  private restBytes = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Bytes of the string being read at depth 1 (kept up to 8, enough to know "raw"). */
  private key: number[] = [];
  private lastString = "";
  /** After `"raw"` and its colon, waiting for the value's opening quote. */
  private expectingRaw = false;
  private inRaw = false;
  /** base64url characters not yet decoded (fewer than four). */
  private carry = "";
  private rawSeen = false;

  /** Feeds a chunk; returns the decoded source bytes it completed. */
  push(chunk: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    let restStart = 0;
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i]!;
      if (this.inRaw) {
        const end = bytes.indexOf(QUOTE, i);
        const stop = end < 0 ? bytes.length : end;
        const decoded = this.decode(bytes.toString("latin1", i, stop), end >= 0);
        if (decoded.length > 0) out.push(decoded);
        if (end < 0) return out;
        this.inRaw = false;
        restStart = end; // the closing quote belongs to the rest: `"raw":""`
        i = end;
        this.lastString = "";
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (byte === BACKSLASH) this.escaped = true;
        else if (byte === QUOTE) {
          this.inString = false;
          this.lastString = this.depth === 1 ? Buffer.from(this.key).toString("latin1") : "";
        } else if (this.key.length < 8) this.key.push(byte);
        continue;
      }
      if (isSpace(byte)) continue;
      if (this.expectingRaw) {
        this.expectingRaw = false;
        if (byte === QUOTE) {
          this.keepRest(bytes.subarray(restStart, i + 1));
          this.inRaw = true;
          this.rawSeen = true;
          restStart = i + 1;
          continue;
        }
      }
      if (byte === QUOTE) {
        this.inString = true;
        this.key = [];
        continue;
      }
      if (this.lastString === "raw" && this.depth === 1) {
        this.lastString = "";
        if (byte === COLON) {
          this.expectingRaw = true;
          continue;
        }
      }
      this.lastString = "";
      if (byte === OPEN_BRACE || byte === OPEN_BRACKET) this.depth++;
      else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) this.depth--;
    }
    this.keepRest(bytes.subarray(restStart));
    return out;
  }

  /** Ends the answer: its metadata, or a `truncatedBody` failure when it was cut off. */
  end(): GmailMessageResource {
    const truncated = this.inRaw || this.inString || this.depth !== 0 || this.restBytes === 0;
    if (truncated) {
      throw toClientMailError(
        { status: 200, reason: "truncatedBody", message: "", retryAfterMs: undefined },
        "users.messages.get",
      );
    }
    let message: GmailMessageResource;
    try {
      message = JSON.parse(Buffer.concat(this.rest).toString("utf8")) as GmailMessageResource;
    } catch {
      throw toClientMailError(
        { status: 200, reason: "truncatedBody", message: "", retryAfterMs: undefined },
        "users.messages.get",
      );
    }
    if (!this.rawSeen) delete message.raw;
    return message;
  }

  private keepRest(part: Buffer): void {
    if (part.length === 0) return;
    this.rest.push(Buffer.from(part));
    this.restBytes += part.length;
  }

  private decode(text: string, final: boolean): Buffer {
    const all = this.carry + text;
    const whole = final ? all.length : all.length - (all.length % 4);
    this.carry = all.slice(whole);
    return whole === 0 ? Buffer.alloc(0) : Buffer.from(all.slice(0, whole), "base64url");
  }
}
