/**
 * R11 through every provider and the production engine: the broken-MIME corpus (missing,
 * truncated and wrong boundaries, no header/body separator, part headers running into the body,
 * `Content-Type: text` without subtype, a top-level message/rfc822, 8-bit and mixed charsets,
 * unknown charsets, HTML only, a cut-off attachment) is delivered to a real Dovecot (IMAP), the
 * Gmail fake and the Graph fake, synced into a store, and read back: every message keeps its
 * text, is flagged degraded exactly where the reading fell back, and the three providers file the
 * same text, HTML, flag and attachments (same names for unnamed parts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FiledMessage } from "@clientmail/core/ports";
import { brokenMimeCorpus, dovecotAvailability, type DovecotServer } from "@clientmail/testkit";
import {
  providerKinds,
  providerWith,
  suiteDovecot,
  syncedFirm,
  type ProviderName,
} from "./three-providers.js";

/** What must be the same whatever the provider. */
function comparable(message: FiledMessage) {
  return {
    subject: message.subject,
    text: message.text,
    html: message.html,
    degraded: message.degraded,
    attachments: message.attachments.map(({ filename, contentType, size, contentHash }) => ({
      filename,
      contentType,
      size,
      contentHash,
    })),
  };
}

async function fileCorpus(kind: ProviderName, dovecot: DovecotServer) {
  const provider = await providerWith(
    kind,
    brokenMimeCorpus.map((c) => c.raw),
    dovecot,
  );
  const f = await syncedFirm(kind, provider);
  try {
    await f.sync();
    const filed = await f.filed();
    return {
      quarantine: await f.store.listQuarantine(f.firm.id),
      byCase: new Map(
        brokenMimeCorpus.map((c) => {
          const message = filed.get(`${c.name}@client.example`);
          return [c.name, message && comparable(message)] as const;
        }),
      ),
      saved: f.sink.saved.map((d) => d.contentHash).sort(),
    };
  } finally {
    await f.close();
  }
}

const skip = process.env.CLIENTMAIL_TEST_DOVECOT ? undefined : dovecotAvailability();

describe.skipIf(skip !== undefined && !skip.available)(
  "R11: the broken-MIME corpus through every provider",
  () => {
    let dovecot: DovecotServer;
    let stop: () => Promise<void>;
    beforeAll(async () => {
      ({ server: dovecot, stop } = await suiteDovecot());
    });
    afterAll(async () => {
      await stop();
    });

    it("R11: IMAP, Gmail and Graph file every broken message with its text, the same text, HTML and attachments, flagged degraded where the reading fell back", async () => {
      const [imap, gmail, graph] = (await Promise.all(
        providerKinds.map((kind) => fileCorpus(kind, dovecot)),
      )) as [
        Awaited<ReturnType<typeof fileCorpus>>,
        Awaited<ReturnType<typeof fileCorpus>>,
        Awaited<ReturnType<typeof fileCorpus>>,
      ];
      for (const result of [imap, gmail, graph]) expect(result.quarantine).toEqual([]);

      for (const c of brokenMimeCorpus) {
        const filed = imap.byCase.get(c.name);
        expect(filed, `${c.name} was filed`).toBeDefined();
        // Nothing is lost silently: every phrase a tolerant reader shows is in the filed text...
        for (const phrase of c.expectText) expect(filed!.text, `${c.name}: "${phrase}"`).toContain(phrase);
        // ...without MIME scaffolding passed off as content.
        for (const phrase of c.rejectText ?? []) expect(filed!.text, `${c.name}`).not.toContain(phrase);
        // Flagged degraded exactly where the parse fell back.
        expect(filed!.degraded, `${c.name} degraded`).toBe(c.degraded);
        if (c.attachments)
          expect(
            filed!.attachments.map((a) => a.filename),
            `${c.name} attachments`,
          ).toEqual(c.attachments);
        // The same message gives the same text through every provider.
        expect(gmail.byCase.get(c.name), `${c.name}: Gmail as IMAP`).toEqual(filed);
        expect(graph.byCase.get(c.name), `${c.name}: Graph as IMAP`).toEqual(filed);
      }
      // The attachments a tolerant reader found reach the documents (letter.pdf and report.pdf are
      // the same file, saved once, F9); the cut-off contracts.pdf does not.
      const found = new Set(
        [...imap.byCase.values()].flatMap((m) => (m?.attachments ?? []).map((a) => a.contentHash)),
      );
      expect(found.size).toBe(1);
      expect(imap.saved).toEqual([...found]);
      expect(gmail.saved).toEqual(imap.saved);
      expect(graph.saved).toEqual(imap.saved);
    });
  },
);
