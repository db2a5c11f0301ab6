/**
 * R7 through every provider and the production engine: a message over the configured size limit
 * is quarantined with its reason and nothing of it is kept; a large message under the limit is
 * streamed (IMAP partial fetches, Gmail's raw read alone, Graph's `$value`) and its attachment
 * reaches the documents byte for byte; a base64 attachment cut off by the end of the message is
 * never saved as if it were whole.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { brokenMimeCorpus, dovecotAvailability, type DovecotServer } from "@clientmail/testkit";
import {
  clientAddress,
  ownerAddress,
  providerKinds,
  providerWith,
  suiteDovecot,
  syncedFirm,
} from "./three-providers.js";

const limitBytes = 4 * 2 ** 20;

function withAttachment(name: string, attachment: Buffer, filename: string): Buffer {
  const base64 = attachment.toString("base64").replace(/.{76}/g, "$&\r\n");
  return Buffer.from(
    `From: Jo <${clientAddress}>\r\nTo: Ann <${ownerAddress}>\r\nSubject: ${name}\r\n` +
      `Date: Tue, 3 Mar 2026 10:00:00 +0000\r\nMessage-ID: <${name}@client.example>\r\nMIME-Version: 1.0\r\n` +
      `Content-Type: multipart/mixed; boundary="sz"\r\n\r\n` +
      `--sz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe ${name} file is attached.\r\n` +
      `--sz\r\nContent-Type: application/octet-stream; name=${filename}\r\n` +
      `Content-Disposition: attachment; filename=${filename}\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
      `${base64}\r\n--sz--\r\n`,
  );
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

const smallFile = randomBytes(20_000);
// Over the IMAP and Gmail single-fetch thresholds (2 MiB, 1 MiB): downloaded alone, streamed.
const largeFile = randomBytes(2_500_000);
// About 6.8 MB once encoded: over the 4 MiB limit.
const hugeFile = randomBytes(5 * 2 ** 20);
const cutOff = brokenMimeCorpus.find((c) => c.name === "cut-off-attachment")!;

const messages = [
  withAttachment("small", smallFile, "small.bin"),
  withAttachment("large", largeFile, "large.bin"),
  withAttachment("huge", hugeFile, "huge.bin"),
  cutOff.raw,
];

const skip = process.env.CLIENTMAIL_TEST_DOVECOT ? undefined : dovecotAvailability();

describe.skipIf(skip !== undefined && !skip.available)("R7: the size limit and large messages", () => {
  let dovecot: DovecotServer;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    ({ server: dovecot, stop } = await suiteDovecot());
  });
  afterAll(async () => {
    await stop();
  });

  for (const kind of providerKinds) {
    it(`R7: ${kind}: a message over maxMessageBytes is quarantined as too_large and nothing of it is kept; a large one is streamed whole; a cut-off base64 part is never saved`, async () => {
      const provider = await providerWith(kind, messages, dovecot, { maxMessageBytes: limitBytes });
      const f = await syncedFirm(kind, provider);
      try {
        const result = await f.sync();
        expect(result).toMatchObject({ ran: true });

        const filed = await f.filed();
        expect([...filed.keys()].sort()).toEqual(
          ["cut-off-attachment@client.example", "large@client.example", "small@client.example"].sort(),
        );
        // R2: the huge message is set aside with its reason, for this mailbox.
        const quarantine = await f.store.listQuarantine(f.firm.id);
        expect(quarantine).toEqual([
          expect.objectContaining({ mailboxId: f.box.id, reason: "too_large", attempts: 1 }),
        ]);
        expect(quarantine[0]!.detail).toContain(`limit of ${limitBytes}`);

        // The attachments under the limit reach the documents byte for byte; nothing of the huge one.
        expect(f.sink.saved.map((d) => [d.filename, d.size, d.writtenHash]).sort()).toEqual(
          [
            ["large.bin", largeFile.length, sha256(largeFile)],
            ["small.bin", smallFile.length, sha256(smallFile)],
          ].sort(),
        );
        for (const document of f.sink.saved) expect(document.writtenHash).toBe(document.contentHash);

        // Never half-saved: the blob store holds exactly the sources of the filed messages (the
        // staged attachments went once saved), byte for byte.
        const sourceKeys = [...filed.values()].map((m) => m.sourceKey!);
        expect(f.blobs.keys()).toEqual([...sourceKeys].sort());
        for (const [id, raw] of [
          ["small@client.example", messages[0]!],
          ["large@client.example", messages[1]!],
        ] as const) {
          const chunks: Buffer[] = [];
          for await (const chunk of (await f.blobs.get(filed.get(id)!.sourceKey!))!)
            chunks.push(Buffer.from(chunk));
          expect(sha256(Buffer.concat(chunks))).toBe(sha256(raw));
        }

        // The cut-off attachment: the text is filed, the message flagged degraded, no file saved.
        const cut = filed.get("cut-off-attachment@client.example")!;
        expect(cut.degraded).toBe(true);
        expect(cut.text).toContain("The scanned contracts are attached.");
        expect(cut.attachments).toEqual([]);
        expect(filed.get("large@client.example")!.degraded).toBe(false);

        // A later pass retries the quarantined message and keeps it set aside: still too large.
        await f.sync();
        expect((await f.filed()).has("huge@client.example")).toBe(false);
      } finally {
        await f.close();
      }
    });
  }
});
