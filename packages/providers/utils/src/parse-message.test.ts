import { createHash, randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mkdtemp, rm } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { isUnreadable, type FetchedMessage, type ProviderEnvelope } from "@clientmail/core";
import { brokenMimeCorpus } from "@clientmail/testkit";
import { parseRawMessage } from "./parse-message.js";
import { SpoolArea } from "./spool.js";

const envelope = { providerId: "p1" } as ProviderEnvelope;

async function parsed(raw: Buffer | string): Promise<FetchedMessage> {
  const result = await parseRawMessage(Buffer.isBuffer(raw) ? raw : Buffer.from(raw), envelope);
  if (isUnreadable(result)) throw new Error(`unreadable: ${result.unreadable.detail}`);
  return result;
}

describe("parseRawMessage", () => {
  it("R11: an HTML-only message gets its text from the HTML; a text message gets no generated HTML", async () => {
    const html = await parsed(
      "Subject: a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <b>Ann</b></p><p>Bye</p>\r\n",
    );
    expect(html.text).toBe("Hello Ann\n\nBye");
    expect(html.html).toContain("<b>Ann</b>");
    const text = await parsed("Subject: a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nJust text\r\n");
    expect(text.text?.trim()).toBe("Just text");
    expect(text.html).toBeUndefined();
  });

  it("R11: 8-bit text in its declared charset is decoded", async () => {
    const latin1 = Buffer.concat([
      Buffer.from(
        "Subject: a\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
      ),
      Buffer.from("Prêt à payer\r\n", "latin1"),
    ]);
    expect((await parsed(latin1)).text?.trim()).toBe("Prêt à payer");
  });

  it("R11: a part without a file name is named after its position and type; named parts keep their name", async () => {
    const message = await parsed(
      'Subject: a\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' +
        "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
        "--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment\r\n\r\n%PDF\r\n" +
        '--b\r\nContent-Type: image/png; name="scan.png"\r\nContent-Disposition: attachment; filename="scan.png"\r\n\r\nPNG\r\n' +
        "--b--\r\n",
    );
    expect(message.attachments.map((a) => a.filename)).toEqual(["attachment-1.pdf", "scan.png"]);
    expect(message.envelope).toBe(envelope);
  });

  for (const sample of brokenMimeCorpus) {
    it(`R11: broken MIME (${sample.name}: ${sample.broken}) keeps its text${sample.degraded ? ", flagged degraded" : ""}`, async () => {
      const message = await parsed(sample.raw);
      for (const phrase of sample.expectText) expect(message.text).toContain(phrase);
      for (const phrase of sample.rejectText ?? []) expect(message.text).not.toContain(phrase);
      expect(message.degraded).toBe(sample.degraded);
      if (sample.attachments) expect(message.attachments.map((a) => a.filename)).toEqual(sample.attachments);
      expect(await bytesOf(message.source!())).toEqual(sample.raw);
    });
  }

  it("R11: a well-formed message is not flagged degraded and its source reads back byte for byte", async () => {
    const raw = Buffer.from("Subject: a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAll fine.\r\n");
    const message = await parsed(raw);
    expect(message.degraded).toBe(false);
    expect(await bytesOf(message.source!())).toEqual(raw);
  });

  it("R7 R11: a last base64 part without its closing delimiter keeps its file when its lines carry spaces", async () => {
    // Whole quanta once the spaces are left out: the part is complete, whatever the spaces.
    const lines = (blank: string) =>
      [
        "From: client@client.example",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b"',
        "",
        "--b",
        "Content-Type: text/plain",
        "",
        "Statements attached.",
        "--b",
        "Content-Type: application/pdf",
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="statement.pdf"',
        "",
        `QUJD${blank}`,
        `RE${blank}VG`,
        `\tR0hJ${blank}`,
        "",
      ].join("\r\n");
    for (const blank of ["", " ", "\t", "  "]) {
      const message = await parsed(lines(blank));
      expect(message.attachments.map((a) => [a.filename, a.size])).toEqual([["statement.pdf", 9]]);
      expect(message.degraded).toBe(false);
    }
    // Cut off inside a quantum: set aside, as before.
    const cut = await parsed(lines(" ").replace("R0hJ", "R0h"));
    expect(cut.attachments).toEqual([]);
    expect(cut.degraded).toBe(true);
  });

  it("R11: a body the parser cannot structure at all is kept as its decoded raw text, flagged degraded", async () => {
    // Header lines past mailparser's limit make it give up; the body is still readable text.
    const raw = Buffer.from(
      `Subject: a\r\n${"X-Pad: y\r\n".repeat(40_000)}\r\nThe text survives the parser.\r\n`,
    );
    const message = await parsed(raw);
    expect(message.text).toContain("The text survives the parser.");
    expect(message.degraded).toBe(true);
  });

  it("R7: attachments stream into spool files past the area's memory budget, hashed on the way; disposing removes them", async () => {
    const directory = await mkdtemp(join(tmpdir(), "cm-parse-"));
    const area = new SpoolArea({ memoryBudgetBytes: 256 * 1024, memoryPerSpoolBytes: 64 * 1024, directory });
    try {
      const content = randomBytes(3 * 2 ** 20);
      const raw = Buffer.from(
        'Subject: a\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' +
          "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
          '--b\r\nContent-Type: application/pdf; name="big.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
          `${content.toString("base64").replace(/.{76}/g, "$&\r\n")}\r\n--b--\r\n`,
      );
      const source = await area.spool(raw);
      const result = await parseRawMessage(source, envelope, { area });
      if (isUnreadable(result)) throw new Error("unreadable");
      expect(area.memoryBytes).toBeLessThanOrEqual(256 * 1024);
      const [attachment] = result.attachments;
      expect(attachment?.size).toBe(content.length);
      expect(attachment?.contentHash).toBe(createHash("sha256").update(content).digest("hex"));
      // Buffer.equals: a deep toEqual over megabytes takes minutes.
      expect((await bytesOf(attachment!.content())).equals(content)).toBe(true);
      expect((await bytesOf(result.source!())).equals(raw)).toBe(true);
      const [folder] = await readdir(directory);
      expect((await readdir(join(directory, folder!))).length).toBeGreaterThanOrEqual(2);
      await area.dispose();
      expect(await readdir(directory)).toEqual([]);
      await expect(bytesOf(attachment!.content())).rejects.toThrow(/after the fetch/);
    } finally {
      await area.dispose();
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("an inline part keeps its Content-ID (without angle brackets) for the HTML body's cid: images", async () => {
    const message = await parsed(
      'Subject: a\r\nContent-Type: multipart/related; boundary="b"\r\n\r\n' +
        '--b\r\nContent-Type: text/html\r\n\r\n<img src="cid:logo@ledger">\r\n' +
        '--b\r\nContent-Type: image/png; name="logo.png"\r\nContent-ID: <logo@ledger>\r\n' +
        "Content-Disposition: inline\r\n\r\nPNG\r\n" +
        "--b--\r\n",
    );
    expect(message.attachments.map((a) => [a.filename, a.contentId])).toEqual([["logo.png", "logo@ledger"]]);
    expect(message.html).toContain('src="cid:logo@ledger"');
  });
});

async function bytesOf(content: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}
