/**
 * R11: text in a charset the message does not declare, or declares under a name no decoder knows,
 * is read the way a tolerant mail program reads it instead of being turned into replacement
 * characters: as UTF-8 when the bytes are valid UTF-8, else as Windows-1252 (the superset of
 * ISO-8859-1 that most undeclared 8-bit mail is written in). A guess marks the message degraded.
 * Declared charsets that a decoder knows are decoded as declared (libmime, as mailparser does).
 */
import { isUtf8 } from "node:buffer";
import { Transform, type TransformCallback } from "node:stream";
import iconv from "iconv-lite";
import libmime from "libmime";

/** Stands for "no charset declared" (or US-ASCII, which 8-bit bytes contradict) on a text part. */
export const undeclaredCharset = "x-clientmail-undeclared";

const utf8Compatible = /^(?:(?:us-)?ascii|utf-?8|7bit)$/i;
/** Charsets libmime decodes itself although iconv-lite does not know them. */
const japanese = /^jis|^iso-?2022-?jp|^eucjp/i;

/** True when a decoder knows `charset` (under any of its usual names). */
export function isKnownCharset(charset: string): boolean {
  const trimmed = charset.trim();
  if (utf8Compatible.test(trimmed) || japanese.test(trimmed)) return true;
  const normalized = libmime.normalizeCharset(trimmed);
  return utf8Compatible.test(normalized) || japanese.test(normalized) || iconv.encodingExists(normalized);
}

/** Decodes bytes of unknown charset: UTF-8 when valid, else Windows-1252. Reports whether it guessed. */
export function decodeGuessing(bytes: Buffer): { text: string; guessed: boolean } {
  if (isUtf8(bytes)) return { text: bytes.toString("utf8"), guessed: false };
  return { text: iconv.decode(bytes, "windows-1252"), guessed: true };
}

/** Collects a part whose charset is undeclared or unknown, and decodes it whole at the end. */
class GuessingDecoder extends Transform {
  private readonly chunks: Buffer[] = [];

  constructor(
    private readonly unknownName: boolean,
    private readonly onGuess: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.chunks.push(chunk);
    done();
  }

  override _flush(done: TransformCallback): void {
    const { text, guessed } = decodeGuessing(Buffer.concat(this.chunks));
    if (guessed || this.unknownName) this.onGuess();
    this.push(Buffer.from(text, "utf8"));
    done();
  }
}

/**
 * The decoder of a text part in `charset`; `onGuess` is called when the text had to be guessed
 * (an unknown charset name, or undeclared 8-bit bytes that are not UTF-8).
 */
export function decodeStreamFor(charset: string, onGuess: () => void): Transform {
  if (charset === undeclaredCharset) return new GuessingDecoder(false, onGuess);
  if (!isKnownCharset(charset)) return new GuessingDecoder(true, onGuess);
  return libmime.createDecodeStream(charset);
}
