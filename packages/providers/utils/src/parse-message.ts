/**
 * Raw RFC 5322 source -> {@link FetchedMessage}, one way for every provider (R11: the same
 * message gives the same text through IMAP, Gmail and Graph). mailparser reads the MIME tree;
 * an HTML-only message gets its text from the HTML, a plain-text one gets no generated HTML, and
 * a part without a file name is named `attachment-<n>.<extension of its type>`.
 *
 * R7: the source is read as a stream (from a {@link SpooledBytes}), and each attachment is
 * streamed into a spool of the same area while it is hashed: no attachment is ever held whole
 * unless it is small.
 *
 * R11, a message never loses text silently:
 * - `Content-Type: text` (no subtype, which RFC 2045 says to read as text/plain) is text, not an
 *   unnamed attachment; a top-level `message/rfc822` is read as the message it wraps;
 * - text in an undeclared or unknown charset is decoded by a tolerant guess (see `charset.ts`);
 * - when the parse finds no readable text but the structure is broken (see `mime-structure.ts`),
 *   the source is parsed again as repaired; when that finds none either and there is no attachment
 *   to explain the body, the decoded raw body is the text;
 * - a base64 part cut off by the end of the source is not passed on as if it were whole.
 * Each of these flags the message `degraded`; the original source stays the reference.
 */
import { createHash } from "node:crypto";
import type { Transform, Writable } from "node:stream";
import type {
  AttachmentContent,
  FetchResult,
  ProviderEnvelope,
  UnreadableMessage,
  UnreadableReason,
} from "@clientmail/core";
import { Base64Decoder } from "./base64-decoder.js";
import { decodeGuessing, decodeStreamFor, undeclaredCharset } from "./charset.js";
import { StructureScanner, repairOf, repairedSource, type StructureReport } from "./mime-structure.js";
import { SpoolArea, SpoolReleasedError, inMemory, type SpooledBytes } from "./spool.js";

let mailparser: Promise<typeof import("mailparser")> | undefined;
let libmime: Promise<typeof import("libmime")> | undefined;

/** The most of a raw body kept as text when nothing else could be read (R11's last resort). */
const rawTextLimitBytes = 2 * 2 ** 20;

/** A message that failed on its own, with a log-safe detail (no content, no addresses). */
export function unreadable(providerId: string, reason: UnreadableReason, detail: string): UnreadableMessage {
  return { providerId, unreadable: { reason, detail } };
}

/** R7: a message over the size limit, set aside before (or instead of) being downloaded. */
export function tooLarge(providerId: string, size: number, limitBytes: number): UnreadableMessage {
  return unreadable(
    providerId,
    "too_large",
    `the message has ${size} bytes, over the limit of ${limitBytes} (maxMessageBytes)`,
  );
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/** Options of {@link parseRawMessage}. */
export interface ParseOptions {
  /**
   * Where attachments are spooled (R7); they are readable until the area is disposed. Without
   * one, attachments are kept in memory, as the source already is.
   */
  area?: SpoolArea | undefined;
}

async function fileName(name: string | undefined, contentType: string, index: number): Promise<string> {
  if (name !== undefined && name.trim() !== "") return name;
  libmime ??= import("libmime");
  const { default: mime } = await libmime;
  return `attachment-${index + 1}.${mime.detectExtension(contentType)}`;
}

/** An attachment as one pass found it. */
interface ParsedAttachment {
  filename: string | undefined;
  /** The part's Content-ID, for `cid:` images in the HTML. */
  contentId: string | undefined;
  contentType: string;
  spool: SpooledBytes & { discard?: () => Promise<void> };
  contentHash: string;
}

/** What one parse of a source found. */
interface Pass {
  text: string | undefined;
  html: string | undefined;
  attachments: ParsedAttachment[];
  report: StructureReport;
  charsetGuessed: boolean;
}

/** Raised inside a pass when reading the source itself failed (not the message's fault). */
class SourceReadFailure extends Error {
  constructor(readonly reason: unknown) {
    super("the source could not be read");
  }
}

/** The mailsplit node fields the R11 hooks adjust before mailparser sees them. */
interface SplitNode {
  root?: boolean;
  contentType?: string | false;
  charset?: string | false;
  encoding?: string | false;
  getDecoder?: () => Transform;
}

/**
 * Adjusts mailparser where R11 reads differently: a type without subtype is text/plain, and text
 * parts in an undeclared or unknown charset go through the guessing decoder. Base64 parts are
 * decoded by {@link Base64Decoder} (libbase64's output, faster). mailparser keeps these steps
 * internal; when its shape changes the hooks are left out (the corpus tests fail).
 */
function installHooks(parser: object, onGuess: () => void): void {
  const internals = parser as { createNode?: (node: SplitNode) => unknown; decoder?: unknown };
  if (typeof internals.createNode === "function") {
    const createNode = internals.createNode.bind(parser);
    internals.createNode = (node: SplitNode) => {
      if (node.contentType === "text") node.contentType = "text/plain";
      const text =
        node.contentType === "text/plain" ||
        node.contentType === "text/html" ||
        (node.root === true && !node.contentType);
      if (text && (!node.charset || /^(?:us-?)?ascii$/i.test(node.charset))) node.charset = undeclaredCharset;
      const getDecoder = node.getDecoder;
      if (typeof getDecoder === "function") {
        // The original first: it reads the part's headers, which set `encoding`.
        node.getDecoder = () => {
          const decoder = getDecoder.call(node);
          return node.encoding === "base64" ? new Base64Decoder() : decoder;
        };
      }
      return createNode(node);
    };
  }
  if (typeof internals.decoder === "object" && internals.decoder !== null) {
    internals.decoder = { decodeStream: (charset: string): Transform => decodeStreamFor(charset, onGuess) };
  }
}

interface MailParserAttachment {
  type: "attachment";
  content: AsyncIterable<Buffer>;
  contentType: string;
  filename?: string;
  /** The Content-ID without angle brackets, when the part has one. */
  cid?: string;
  release: (() => void) | null;
}

interface MailParserText {
  type: "text";
  text?: string;
  html?: string | false;
}

/** Resolves when `stream` wants more input, or can take none any more (destroyed). */
function drained(stream: Writable): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

/** One parse of `input`, attachments spooled into `area`, structure scanned on the way. */
async function parsePass(input: AsyncIterable<Uint8Array>, area: SpoolArea): Promise<Pass> {
  // Loaded on first use: most syncs fetch little, and mailparser is most of the start-up cost.
  mailparser ??= import("mailparser");
  const { MailParser } = await mailparser;
  const pass: Pass = {
    text: undefined,
    html: undefined,
    attachments: [],
    report: undefined as unknown as StructureReport,
    charsetGuessed: false,
  };
  const parser = new MailParser({
    skipImageLinks: true,
    skipTextToHtml: true,
    skipTextLinks: true,
    checksumAlgo: false,
  });
  installHooks(parser, () => {
    pass.charsetGuessed = true;
  });
  const scanner = new StructureScanner();
  const feeding = (async () => {
    try {
      for await (const chunk of input) {
        if (parser.destroyed) return;
        scanner.push(chunk);
        if (!parser.write(chunk)) await drained(parser);
      }
      if (parser.destroyed) return;
    } catch (error) {
      if (parser.destroyed) return;
      parser.destroy(new SourceReadFailure(error));
      return;
    }
    parser.end();
  })();
  try {
    for await (const data of parser as AsyncIterable<MailParserAttachment | MailParserText>) {
      if (data.type === "text") {
        pass.text = data.text;
        pass.html = typeof data.html === "string" ? data.html : undefined;
        continue;
      }
      const writer = area.writer();
      const hash = createHash("sha256");
      try {
        for await (const chunk of data.content) {
          hash.update(chunk);
          await writer.write(chunk);
        }
      } catch (error) {
        await writer.abort();
        throw error;
      }
      pass.attachments.push({
        filename: data.filename,
        contentId: data.cid,
        contentType: data.contentType,
        spool: await writer.finish(),
        contentHash: hash.digest("hex"),
      });
      data.release?.();
    }
  } catch (error) {
    parser.destroy();
    await feeding;
    await discard(pass);
    throw error;
  }
  await feeding;
  pass.report = scanner.end();
  return pass;
}

async function discard(pass: Pass): Promise<void> {
  for (const attachment of pass.attachments) await attachment.spool.discard?.();
  pass.attachments = [];
}

function readable(pass: Pass): boolean {
  if ((pass.text ?? "").trim() !== "") return true;
  return pass.html !== undefined && pass.html.replace(/<[^>]*>/g, "").trim() !== "";
}

/** The source from byte `offset` on. */
async function* from(source: AsyncIterable<Uint8Array>, offset: number): AsyncGenerator<Uint8Array> {
  let skipped = 0;
  for await (const chunk of source) {
    if (skipped >= offset) {
      yield chunk;
      continue;
    }
    const skip = Math.min(chunk.length, offset - skipped);
    skipped += skip;
    if (skip < chunk.length) yield chunk.subarray(skip);
  }
}

/** R11's last resort: the raw body (from `offset`) decoded as text. */
async function rawBodyText(source: AsyncIterable<Uint8Array>, offset: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of from(source, offset)) {
    const take = Math.min(chunk.length, rawTextLimitBytes - size);
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, take));
    size += take;
    if (size >= rawTextLimitBytes) break;
  }
  return decodeGuessing(Buffer.concat(chunks)).text.replace(/\r?\n/g, "\n").trim();
}

/** A top-level `message/rfc822` that is the message itself, not an attachment of an empty one. */
function wrapsMessage(report: StructureReport): boolean {
  return (
    report.rootType === "message/rfc822" &&
    report.rootDisposition !== "attachment" &&
    ["", "7bit", "8bit", "binary"].includes(report.rootEncoding)
  );
}

async function toAttachments(pass: Pass): Promise<AttachmentContent[]> {
  const attachments: AttachmentContent[] = [];
  for (const [index, attachment] of pass.attachments.entries()) {
    const { spool } = attachment;
    attachments.push({
      filename: await fileName(attachment.filename, attachment.contentType, index),
      contentType: attachment.contentType,
      size: spool.size,
      contentHash: attachment.contentHash,
      ...(attachment.contentId === undefined || attachment.contentId === ""
        ? {}
        : { contentId: attachment.contentId }),
      content: () => spool.read(),
    });
  }
  return attachments;
}

/** An area without limits, for sources a caller already holds in memory. */
function memoryArea(): SpoolArea {
  return new SpoolArea({
    memoryBudgetBytes: Number.POSITIVE_INFINITY,
    memoryPerSpoolBytes: Number.POSITIVE_INFINITY,
  });
}

/**
 * Parses `source` into the message with `envelope` (built by the provider, which knows its ids,
 * folders and flags). The result's `source` reads `source` again, byte for byte. Never throws for
 * the content of the message (see the module comment); a failure to read `source` itself is
 * thrown.
 */
export async function parseRawMessage(
  source: Buffer | SpooledBytes,
  envelope: ProviderEnvelope,
  options: ParseOptions = {},
): Promise<FetchResult> {
  const bytes: SpooledBytes = Buffer.isBuffer(source) ? inMemory(source) : source;
  const area = options.area ?? memoryArea();
  let input = () => bytes.read();
  let degraded = false;
  let pass: Pass;
  try {
    pass = await parsePass(input(), area);
    if (wrapsMessage(pass.report)) {
      const offset = pass.report.bodyOffset;
      input = () => from(bytes.read(), offset);
      await discard(pass);
      pass = await parsePass(input(), area);
    }
    if (!readable(pass)) {
      const repair = repairOf(pass.report);
      if (repair) {
        const repaired = await parsePass(repairedSource(input(), repair, pass.report), area);
        if (readable(repaired)) {
          await discard(pass);
          pass = repaired;
          degraded = true;
        } else {
          await discard(repaired);
        }
      }
      if (!readable(pass) && pass.attachments.length === 0 && pass.report.bodyHasContent) {
        pass.text = await rawBodyText(input(), pass.report.bodyOffset);
        pass.html = undefined;
        degraded = true;
      }
    }
  } catch (error) {
    const cause = error instanceof SourceReadFailure ? error.reason : error;
    if (error instanceof SourceReadFailure || cause instanceof SpoolReleasedError) throw cause;
    return await unparseableSource(envelope, bytes, error);
  }
  if (pass.report.truncatedBase64) {
    // R7: a part cut off by the end of the source is not passed on as a whole file.
    degraded = true;
    if (!pass.report.truncatedPartIsText) await pass.attachments.pop()?.spool.discard?.();
  }
  return {
    envelope,
    text: pass.text,
    html: pass.html,
    attachments: await toAttachments(pass),
    source: () => bytes.read(),
    degraded: degraded || pass.charsetGuessed,
  };
}

/**
 * A source the parser could not read at all (it threw): R11 keeps the decoded raw body as the
 * text and flags the message degraded, instead of setting it aside. Only a source with nothing
 * readable in it is `unparseable`.
 */
async function unparseableSource(
  envelope: ProviderEnvelope,
  bytes: SpooledBytes,
  error: unknown,
): Promise<FetchResult> {
  const scanner = new StructureScanner();
  for await (const chunk of bytes.read()) scanner.push(chunk);
  const report = scanner.end();
  const text = report.bodyHasContent ? await rawBodyText(bytes.read(), report.bodyOffset) : "";
  if (text === "" && bytes.size === 0)
    return unreadable(envelope.providerId, "unparseable", `MIME parser failed (${errorName(error)})`);
  return { envelope, text, html: undefined, attachments: [], source: () => bytes.read(), degraded: true };
}
