/**
 * R11: a line-by-line look at a message's MIME structure, taken while the parser reads it, and the
 * repair a tolerant reader makes when the structure is broken.
 *
 * mailparser follows the structure a message declares. When the declaration is wrong it shows
 * nothing, although the text is plainly there: a multipart whose boundary is missing, cut short
 * or not the one the body uses (everything becomes preamble); a header with no blank line after
 * it (the body is read as more header); a part whose headers run into its body (the body is read
 * as headers). The {@link StructureScanner} finds these while the parser runs, in one streaming
 * pass with nothing but the current line held, and {@link repairedSource} rewrites the source the
 * way most mail programs read it: the boundary the body really uses, a blank line where the body
 * starts. The repaired copy is only ever parsed; the source kept is the original.
 *
 * It also notices a message that ends inside a base64 part (a cut-off transfer): that part is
 * incomplete and must not be saved as if it were whole (R7).
 */

/** What the scanner found. Line numbers count from 0 over the whole source. */
export interface StructureReport {
  /** Byte offset where the body starts (after the blank line, or at the first line that is no header). */
  bodyOffset: number;
  /** The line where the body starts without a blank line before it, if so. */
  missingSeparatorLine: number | undefined;
  /** The message's own Content-Type, lower-cased type/subtype ("" when absent). */
  rootType: string;
  /** Its `Content-Disposition` value, lower-cased ("" when absent). */
  rootDisposition: string;
  /** Its Content-Transfer-Encoding, lower-cased ("" when absent). */
  rootEncoding: string;
  /** Lines (first, end exclusive) of the root Content-Type field, folded lines included. */
  rootContentTypeLines: [number, number] | undefined;
  /** The boundary the root declares, if any. */
  declaredBoundary: string | undefined;
  /** Whether a delimiter line of the declared boundary occurs in the body. */
  declaredBoundaryUsed: boolean;
  /** The first `--token` line of the body that is followed by a part header: what the body really uses. */
  observedBoundary: string | undefined;
  /** Lines before which a part's body starts without a blank line after the part's headers. */
  runOnLines: number[];
  /** The body has something other than whitespace. */
  bodyHasContent: boolean;
  /**
   * The source ends inside a base64 part whose encoded length is not a whole number of quanta:
   * the part was cut off. `truncatedPartIsText` tells whether it was a text part.
   */
  truncatedBase64: boolean;
  truncatedPartIsText: boolean;
}

const CR = 0x0d;
const LF = 0x0a;
const DASH = 0x2d;
const SPACE = 0x20;
const TAB = 0x09;
/** Of a line, what classification needs; longer lines are only counted. */
const maxLineKept = 998;

/** A root header field name followed by a colon (RFC 5322 ftext), or a folded continuation. */
const headerField = /^[!-9;-~]+[ \t]*:/;
/** Fields a MIME part's header carries; anything else after a delimiter is body text. */
const partHeaderField = /^(?:content-[a-z0-9-]*|mime-version|x-[a-z0-9-]*)[ \t]*:/i;
const boundaryParam = /boundary[ \t]*=[ \t]*(?:"([^"]{1,200})"|([^;\s]{1,200}))/i;

type Phase = "root-headers" | "body" | "part-headers" | "part-body";

function isBlank(line: string): boolean {
  return line.trim() === "";
}

/** Streaming structure scanner; feed it every chunk of the source, then call {@link end}. */
export class StructureScanner {
  private phase: Phase = "root-headers";
  private lineNumber = 0;
  private offset = 0;
  /** The current line's start (kept up to maxLineKept bytes) and its full length. */
  private pending: Buffer[] = [];
  private pendingKept = 0;
  private pendingLength = 0;
  private rootHeader: string[] = [];
  private rootField: string | undefined;
  private rootFieldStart = 0;
  private readonly boundaries = new Set<string>();
  /** A `--token` line whose next line decides whether it is a delimiter. */
  private dashLine: { token: string; closing: boolean } | undefined;
  private partHeaderSeen = false;
  private partEncoding = "";
  private partType = "";
  private partDisposition = "";
  private partField: "encoding" | "type" | "disposition" | undefined;
  private partBase64Chars = 0;
  private insidePart = false;
  /**
   * The next space and tab of the chunk being scanned, at or after the line in hand (-1: none
   * left), so that the lines of a base64 part are counted without spaces and tabs (as
   * {@link onBodyLine} counts them) without reading each of their bytes here.
   */
  private nextSpace = -1;
  private nextTab = -1;
  readonly report: StructureReport = {
    bodyOffset: 0,
    missingSeparatorLine: undefined,
    rootType: "",
    rootDisposition: "",
    rootEncoding: "",
    rootContentTypeLines: undefined,
    declaredBoundary: undefined,
    declaredBoundaryUsed: false,
    observedBoundary: undefined,
    runOnLines: [],
    bodyHasContent: false,
    truncatedBase64: false,
    truncatedPartIsText: false,
  };

  push(chunk: Uint8Array): void {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.nextSpace = buffer.indexOf(SPACE);
    this.nextTab = buffer.indexOf(TAB);
    let start = 0;
    for (;;) {
      const newline = buffer.indexOf(LF, start);
      if (newline < 0) {
        this.keep(buffer.subarray(start));
        return;
      }
      if (this.plainBodyLine(buffer, start, newline)) {
        start = newline + 1;
        continue;
      }
      this.keep(buffer.subarray(start, newline + 1));
      this.completeLine();
      start = newline + 1;
    }
  }

  /**
   * The common case, taken without copying: a whole line inside a part's body that cannot be a
   * delimiter (most of a message is base64 or text lines). Returns false to take the full path.
   */
  private plainBodyLine(buffer: Buffer, start: number, newline: number): boolean {
    if (this.phase !== "part-body" || this.dashLine !== undefined || this.pendingLength > 0) return false;
    if (!this.report.bodyHasContent) return false;
    if (buffer[start] === DASH && buffer[start + 1] === DASH) return false;
    let end = newline;
    if (end > start && buffer[end - 1] === CR) end--;
    if (this.insidePart && this.partEncoding === "base64")
      this.partBase64Chars += end - start - this.blanksIn(buffer, start, end);
    this.offset += newline + 1 - start;
    this.lineNumber++;
    return true;
  }

  /** The spaces and tabs of `buffer[start, end)`, found through the chunk's next-space and next-tab marks. */
  private blanksIn(buffer: Buffer, start: number, end: number): number {
    let count = 0;
    while (this.nextSpace >= 0 && this.nextSpace < end) {
      if (this.nextSpace >= start) count++;
      this.nextSpace = buffer.indexOf(SPACE, this.nextSpace + 1);
    }
    while (this.nextTab >= 0 && this.nextTab < end) {
      if (this.nextTab >= start) count++;
      this.nextTab = buffer.indexOf(TAB, this.nextTab + 1);
    }
    return count;
  }

  /** Ends the scan; the report is final after this. */
  end(): StructureReport {
    if (this.pendingLength > 0) this.completeLine();
    this.resolveDashLine(undefined);
    if (this.phase === "root-headers") this.endRootHeaders(this.offset);
    if (this.insidePart && this.partEncoding === "base64" && this.partBase64Chars % 4 !== 0) {
      this.report.truncatedBase64 = true;
      this.report.truncatedPartIsText =
        this.partDisposition !== "attachment" && (this.partType === "" || this.partType.startsWith("text"));
    }
    return this.report;
  }

  private keep(part: Buffer): void {
    if (part.length === 0) return;
    this.pendingLength += part.length;
    if (this.pendingKept < maxLineKept) {
      const kept = part.subarray(0, maxLineKept - this.pendingKept);
      this.pending.push(kept);
      this.pendingKept += kept.length;
    }
  }

  private completeLine(): void {
    const raw = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    const length = this.pendingLength;
    this.pending = [];
    this.pendingKept = 0;
    this.pendingLength = 0;
    // latin1 keeps one character per byte: classification is about ASCII only.
    let end = raw.length;
    if (end > 0 && raw[end - 1] === LF) end--;
    if (end > 0 && raw[end - 1] === CR) end--;
    const isDashLine = end >= 3 && raw[0] === DASH && raw[1] === DASH;
    const needsText = this.phase !== "part-body" || isDashLine || this.dashLine !== undefined;
    const line = needsText ? raw.toString("latin1", 0, end) : "";
    this.onLine(line, raw, end, length);
    this.offset += length;
    this.lineNumber++;
  }

  private onLine(line: string, raw: Buffer, end: number, length: number): void {
    switch (this.phase) {
      case "root-headers":
        this.onRootHeaderLine(line, length);
        return;
      case "part-headers":
        this.resolveDashLine(line);
        this.onPartHeaderLine(line, raw, end);
        return;
      default:
        this.resolveDashLine(line);
        if ((this.phase as Phase) === "part-headers") {
          this.onPartHeaderLine(line, raw, end);
          return;
        }
        this.onBodyLine(line, raw, end);
    }
  }

  private onRootHeaderLine(line: string, length: number): void {
    if (isBlank(line)) {
      this.endRootHeaders(this.offset + length);
      this.phase = "body";
      return;
    }
    const continuation = /^[ \t]/.test(line) && this.rootHeader.length > 0;
    if (!continuation && !headerField.test(line)) {
      // The body starts here, with no blank line before it.
      this.report.missingSeparatorLine = this.lineNumber;
      this.endRootHeaders(this.offset);
      this.phase = "body";
      this.onBodyLine(line, Buffer.from(line, "latin1"), line.length);
      return;
    }
    if (!continuation) {
      this.closeRootField();
      if (/^content-type[ \t]*:/i.test(line)) {
        this.rootField = line;
        this.rootFieldStart = this.lineNumber;
      }
    } else if (this.rootField !== undefined) {
      this.rootField += line;
    }
    if (this.rootHeader.length < 2000) this.rootHeader.push(continuation ? ` ${line.trim()}` : `\n${line}`);
  }

  private closeRootField(): void {
    if (this.rootField === undefined) return;
    this.report.rootContentTypeLines = [this.rootFieldStart, this.lineNumber];
    this.rootField = undefined;
  }

  private endRootHeaders(bodyOffset: number): void {
    this.closeRootField();
    this.report.bodyOffset = bodyOffset;
    const header = this.rootHeader.join("");
    const value = (name: string) =>
      new RegExp(`\\n${name}[ \\t]*:[ \\t]*([^\\n]*)`, "i").exec(header)?.[1]?.trim() ?? "";
    const contentType = value("content-type");
    this.report.rootType = (/^[^;\s]*/.exec(contentType)?.[0] ?? "").toLowerCase();
    this.report.rootDisposition = (/^[^;\s]*/.exec(value("content-disposition"))?.[0] ?? "").toLowerCase();
    this.report.rootEncoding = value("content-transfer-encoding").toLowerCase();
    const boundary = boundaryParam.exec(contentType);
    const declared = (boundary?.[1] ?? boundary?.[2])?.trimEnd();
    if (declared) {
      this.report.declaredBoundary = declared;
      this.boundaries.add(declared);
    }
  }

  /** Decides the pending `--token` line with the line that follows it (undefined: the source ended). */
  private resolveDashLine(next: string | undefined): void {
    const dash = this.dashLine;
    if (!dash) return;
    this.dashLine = undefined;
    const known = this.boundaries.has(dash.token);
    const followedByPartHeader = next !== undefined && partHeaderField.test(next);
    if (!known && !followedByPartHeader) return;
    if (!known && !dash.closing) {
      this.boundaries.add(dash.token);
      this.report.observedBoundary ??= dash.token;
    }
    if (dash.token === this.report.declaredBoundary) this.report.declaredBoundaryUsed = true;
    if (dash.closing) {
      this.insidePart = false;
      this.phase = "body";
      return;
    }
    this.startPart();
  }

  private startPart(): void {
    this.phase = "part-headers";
    this.insidePart = true;
    this.partHeaderSeen = false;
    this.partEncoding = "";
    this.partType = "";
    this.partDisposition = "";
    this.partField = undefined;
    this.partBase64Chars = 0;
  }

  private onPartHeaderLine(line: string, raw: Buffer, end: number): void {
    if (isBlank(line)) {
      this.phase = "part-body";
      return;
    }
    const continuation = /^[ \t]/.test(line) && this.partHeaderSeen;
    if (continuation || partHeaderField.test(line)) {
      if (!continuation) {
        this.partHeaderSeen = true;
        const lower = line.toLowerCase();
        this.partField = lower.startsWith("content-transfer-encoding")
          ? "encoding"
          : lower.startsWith("content-type")
            ? "type"
            : lower.startsWith("content-disposition")
              ? "disposition"
              : undefined;
      }
      const value = (continuation ? line : line.slice(line.indexOf(":") + 1)).trim().toLowerCase();
      if (this.partField === "encoding" && !continuation) this.partEncoding = value;
      if (this.partField === "type" && !continuation) this.partType = /^[^;\s]*/.exec(value)?.[0] ?? "";
      if (this.partField === "disposition" && !continuation)
        this.partDisposition = /^[^;\s]*/.exec(value)?.[0] ?? "";
      const nested = boundaryParam.exec(line);
      if (this.partField === "type" && nested) this.boundaries.add((nested[1] ?? nested[2])!.trimEnd());
      return;
    }
    // The part's body starts here, with no blank line after its headers.
    this.report.runOnLines.push(this.lineNumber);
    this.phase = "part-body";
    this.onBodyLine(line, raw, end);
  }

  private onBodyLine(line: string, raw: Buffer, end: number): void {
    if (!this.report.bodyHasContent) {
      for (let i = 0; i < end; i++) {
        const byte = raw[i]!;
        if (byte !== 0x20 && byte !== 0x09 && byte !== CR && byte !== LF) {
          this.report.bodyHasContent = true;
          break;
        }
      }
    }
    if (end >= 3 && raw[0] === DASH && raw[1] === DASH) {
      const text = line.trimEnd();
      const closing = text.endsWith("--") && text.length > 4;
      const token = closing ? text.slice(2, -2) : text.slice(2);
      if (token.length > 0 && token.length <= 200 && !/\s$/.test(token)) {
        this.dashLine = { token, closing };
        return;
      }
    }
    if (this.insidePart && this.partEncoding === "base64") {
      let count = 0;
      for (let i = 0; i < end; i++) {
        const byte = raw[i]!;
        if (byte !== 0x20 && byte !== 0x09) count++;
      }
      this.partBase64Chars += count;
    }
  }
}

/** The repair of a report that found something to repair; undefined when there is none. */
export interface Repair {
  /** Insert an empty line before these lines. */
  blankLineBefore: ReadonlySet<number>;
  /** Replace the root Content-Type field (these lines) with this one. */
  contentType: { lines: [number, number]; field: string } | undefined;
  /** Insert this Content-Type field at the end of the root header (it had none). */
  addContentType: string | undefined;
}

/** What a tolerant reader changes, or undefined when the structure needs nothing. */
export function repairOf(report: StructureReport): Repair | undefined {
  const blank = new Set<number>(report.runOnLines);
  if (report.missingSeparatorLine !== undefined) blank.add(report.missingSeparatorLine);
  let contentType: Repair["contentType"];
  let addContentType: string | undefined;
  const multipart = report.rootType.startsWith("multipart/") || report.rootType === "";
  if (multipart && report.observedBoundary !== undefined && !report.declaredBoundaryUsed) {
    const type = report.rootType.startsWith("multipart/") ? report.rootType : "multipart/mixed";
    const field = `Content-Type: ${type}; boundary="${report.observedBoundary}"`;
    if (report.rootContentTypeLines) contentType = { lines: report.rootContentTypeLines, field };
    else addContentType = field;
  }
  if (blank.size === 0 && !contentType && !addContentType) return undefined;
  return { blankLineBefore: blank, contentType, addContentType };
}

/**
 * The source with `repair` applied, streamed: lines are passed through as they are, with empty
 * lines inserted and the root Content-Type replaced.
 */
export async function* repairedSource(
  source: AsyncIterable<Uint8Array>,
  repair: Repair,
  report: StructureReport,
): AsyncGenerator<Uint8Array> {
  let lineNumber = 0;
  let eol = "\r\n";
  let headerDone = false;
  let carry: Buffer[] = [];
  const emitLine = function* (line: Buffer): Generator<Uint8Array> {
    if (line.length > 0 && line[line.length - 1] === LF) {
      eol = line.length > 1 && line[line.length - 2] === CR ? "\r\n" : "\n";
    }
    const current = lineNumber++;
    if (!headerDone && repair.addContentType !== undefined) {
      const endsHeader =
        current === report.missingSeparatorLine || (line.toString("latin1").trim() === "" && current > 0);
      if (endsHeader) {
        headerDone = true;
        yield Buffer.from(`${repair.addContentType}${eol}`, "latin1");
      }
    }
    if (repair.blankLineBefore.has(current)) yield Buffer.from(eol, "latin1");
    const replaced = repair.contentType;
    if (replaced && current >= replaced.lines[0] && current < replaced.lines[1]) {
      if (current === replaced.lines[0]) yield Buffer.from(`${replaced.field}${eol}`, "latin1");
      return;
    }
    yield line;
  };
  for await (const chunk of source) {
    const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    let start = 0;
    for (;;) {
      const newline = buffer.indexOf(LF, start);
      if (newline < 0) {
        if (start < buffer.length) carry.push(buffer.subarray(start));
        break;
      }
      const piece = buffer.subarray(start, newline + 1);
      const line = carry.length > 0 ? Buffer.concat([...carry, piece]) : piece;
      carry = [];
      yield* emitLine(line);
      start = newline + 1;
    }
  }
  if (carry.length > 0) yield* emitLine(Buffer.concat(carry));
}
