/**
 * R11: the original source of every filed message is kept, read back and exported as `.eml`
 * byte for byte, through the facade (`ClientMail.exportMessageAsEml`), on both stores, whatever
 * provider delivered it. 8-bit bytes, bare broken MIME and CRLF line ends must come back as they
 * arrived.
 */
import { createHash } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClientMail } from "@clientmail/core";
import type { Store } from "@clientmail/core/ports";
import { createMemoryStore } from "@clientmail/memory";
import { createPostgresStore, migrate } from "@clientmail/postgres";
import { brokenMimeCorpus, dovecotAvailability, type DovecotServer } from "@clientmail/testkit";
import { dropDatabase, freshDatabase } from "../support/postgres.js";
import { providerKinds, providerWith, suiteDovecot, syncedFirm } from "./three-providers.js";

const picked = ["raw-8bit", "no-separator", "top-level-rfc822", "cut-off-attachment", "html-only"];
const cases = brokenMimeCorpus.filter((c) => picked.includes(c.name));

async function bytesOf(content: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

const skip = process.env.CLIENTMAIL_TEST_DOVECOT ? undefined : dovecotAvailability();

describe.skipIf(skip !== undefined && !skip.available)(
  "R11: a filed message's source exported as .eml",
  () => {
    let dovecot: DovecotServer;
    let stop: () => Promise<void>;
    let databaseUrl: string;
    let pool: pg.Pool;
    beforeAll(async () => {
      ({ server: dovecot, stop } = await suiteDovecot());
      databaseUrl = await freshDatabase("eml");
      pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
      pool.on("error", () => undefined);
      await migrate(pool);
    });
    afterAll(async () => {
      await pool?.end();
      if (databaseUrl) await dropDatabase(databaseUrl);
      await stop();
    });

    const stores: Array<[string, () => Store]> = [
      ["memory", () => createMemoryStore()],
      ["postgres", () => createPostgresStore({ pool })],
    ];

    for (const [storeName, makeStore] of stores) {
      for (const kind of providerKinds) {
        it(`R11: ${storeName} store, ${kind}: exportMessageAsEml gives back every filed message's source byte for byte, to the firm's members only`, async () => {
          const provider = await providerWith(
            kind,
            cases.map((c) => c.raw),
            dovecot,
          );
          const f = await syncedFirm(kind, provider, { store: makeStore() });
          try {
            await f.sync();
            const cm = createClientMail({ store: f.store, blobs: f.blobs });
            const filed = await f.filed();
            expect(filed.size).toBe(cases.length);
            for (const c of cases) {
              const message = filed.get(`${c.name}@client.example`)!;
              const eml = await cm.exportMessageAsEml(f.firm.id, f.owner.id, message.id);
              expect(eml.contentType).toBe("message/rfc822");
              expect(eml.filename).toBe(`Broken ${c.name}.eml`);
              const exported = await bytesOf(eml.content);
              expect(exported.length, c.name).toBe(c.raw.length);
              expect(sha256(exported), c.name).toBe(sha256(c.raw));
              // The source reads again, as often as asked.
              expect(
                (await bytesOf(await cm.messageSource(f.firm.id, f.owner.id, message.id))).equals(c.raw),
              ).toBe(true);
            }
            const any = [...filed.values()][0]!;
            // Scoped by firm: another firm's member, or the message asked for under another firm, get nothing.
            const other = await f.store.createFirm({
              name: "Other",
              internalDomains: [],
              deletionMode: "mirror",
            });
            const stranger = await f.store.createMember(other.id, {
              name: "Eve",
              email: "eve@other.example",
              role: "owner",
              newMailNotifications: "none",
              timeZone: "UTC",
            });
            await expect(cm.exportMessageAsEml(f.firm.id, stranger.id, any.id)).rejects.toMatchObject({
              code: "permission_denied",
            });
            await expect(cm.exportMessageAsEml(other.id, stranger.id, any.id)).rejects.toMatchObject({
              code: "not_found",
            });
            await expect(
              createClientMail({ store: f.store }).exportMessageAsEml(f.firm.id, f.owner.id, any.id),
            ).rejects.toMatchObject({ code: "validation_failed" });
          } finally {
            await f.close();
          }
        });
      }
    }
  },
);
