import { randomBytes } from "node:crypto";
import fc from "fast-check";
import libbase64 from "libbase64";
import { describe, expect, it, vi } from "vitest";
import { Base64Decoder } from "./base64-decoder.js";
import { parseRawMessage } from "./parse-message.js";

/** Everything a decoder outputs for `chunks`, written one by one. */
async function decodeWith(decoder: NodeJS.ReadWriteStream, chunks: readonly Buffer[]): Promise<Buffer> {
  const output: Buffer[] = [];
  decoder.on("data", (chunk: Buffer) => output.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    decoder.on("end", resolve);
    decoder.on("error", reject);
  });
  for (const chunk of chunks) decoder.write(chunk);
  decoder.end();
  await ended;
  return Buffer.concat(output);
}

/** `bytes` cut at `cuts` (positions, any order, duplicates allowed). */
function cut(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((at) => at % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  return chunks.filter((chunk) => chunk.length > 0);
}

const base64Chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * Bytes as a transfer-encoded body may hold them: mostly base64 characters and line breaks, with
 * padding anywhere (parts padded line by line), stray spaces, tabs, `-`, `_` and 8-bit bytes.
 */
const encodedBody = fc
  .array(
    fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom(...base64Chars.split("")) },
      { weight: 3, arbitrary: fc.constantFrom("\r\n", "\n", "\r") },
      { weight: 1, arbitrary: fc.constantFrom("=", "==") },
      { weight: 1, arbitrary: fc.constantFrom(" ", "\t", "-", "_", "\u00e9", "\u00ff", "\u0080", "*") },
    ),
    { maxLength: 400 },
  )
  .map((parts) => Buffer.from(parts.join(""), "latin1"));

describe("Base64Decoder", () => {
  it("R11: decodes any body, cut into any chunks, exactly as libbase64's decoder does", async () => {
    await fc.assert(
      fc.asyncProperty(encodedBody, fc.array(fc.nat({ max: 400 }), { maxLength: 12 }), async (body, cuts) => {
        const chunks = cut(body, cuts);
        const ours = await decodeWith(new Base64Decoder(), chunks);
        const theirs = await decodeWith(new libbase64.Decoder(), chunks);
        expect(ours.toString("hex")).toBe(theirs.toString("hex"));
      }),
      { numRuns: 2_000 },
    );
  });

  it("R11: a large attachment in 76-character lines, cut into socket-sized chunks, comes back whole", async () => {
    const raw = randomBytes(300_000);
    const encoded = Buffer.from(raw.toString("base64").replace(/.{76}/g, "$&\r\n"));
    for (const size of [1, 3, 77, 4_096, 65_536]) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < encoded.length; at += size) chunks.push(encoded.subarray(at, at + size));
      const decoded = await decodeWith(new Base64Decoder(), size === 1 ? chunks.slice(0, 2_000) : chunks);
      if (size === 1) expect(decoded).toEqual(raw.subarray(0, decoded.length));
      else expect(decoded).toEqual(raw);
    }
  });

  it("R11: one stray byte anywhere in long base64 lines is skipped as libbase64 skips it", async () => {
    const encoded = randomBytes(3_000).toString("base64").replace(/.{76}/g, "$&\r\n");
    for (const stray of [" ", "\t", "!", "-", "_", "\u00e9", "\u0000"])
      for (let at = 0; at <= encoded.length; at += 97) {
        const body = Buffer.from(encoded.slice(0, at) + stray + encoded.slice(at), "latin1");
        for (const size of [512, 4_096]) {
          const chunks: Buffer[] = [];
          for (let from = 0; from < body.length; from += size) chunks.push(body.subarray(from, from + size));
          const ours = await decodeWith(new Base64Decoder(), chunks);
          const theirs = await decodeWith(new libbase64.Decoder(), chunks);
          expect(ours.toString("hex")).toBe(theirs.toString("hex"));
        }
      }
  });

  it("R11: the MIME parser decodes base64 parts with it, and the attachment is byte for byte the original", async () => {
    const file = randomBytes(5_000);
    const source = Buffer.from(
      [
        "From: Client <client@client.example>",
        "To: anna@firm.example",
        "Subject: Statements",
        "Message-ID: <b64@client.example>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b"',
        "",
        "--b",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        "",
        Buffer.from("Hello, here are the statements.").toString("base64"),
        "--b",
        'Content-Type: application/pdf; name="statement.pdf"',
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="statement.pdf"',
        "",
        file.toString("base64").replace(/.{76}/g, "$&\r\n"),
        "--b--",
        "",
      ].join("\r\n"),
    );
    const decoding = vi.spyOn(Base64Decoder.prototype, "_transform");
    try {
      const parsed = await parseRawMessage(source, {
        providerId: "p1",
        folder: "INBOX",
        providerThreadId: undefined,
        messageId: "<b64@client.example>",
        inReplyTo: [],
        references: [],
        from: [{ address: "client@client.example" }],
        sender: [],
        replyTo: [],
        to: [{ address: "anna@firm.example" }],
        cc: [],
        bcc: [],
        subject: "Statements",
        date: new Date(0),
        size: source.length,
        flags: [],
      });
      if ("unreadable" in parsed) throw new Error("the message was not read");
      expect(decoding).toHaveBeenCalled();
      expect(parsed.text).toBe("Hello, here are the statements.");
      const [attachment] = parsed.attachments;
      const content: Buffer[] = [];
      for await (const chunk of attachment!.content()) content.push(Buffer.from(chunk));
      expect(Buffer.concat(content)).toEqual(file);
    } finally {
      decoding.mockRestore();
    }
  });
});
