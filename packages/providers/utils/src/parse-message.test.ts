import { describe, expect, it } from "vitest";
import { isUnreadable, type FetchedMessage, type ProviderEnvelope } from "@clientmail/core";
import { parseRawMessage } from "./parse-message.js";

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
