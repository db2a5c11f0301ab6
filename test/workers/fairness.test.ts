/**
 * Fairness across firms on the PostgreSQL job queue (the port's rule, checked on the memory queue
 * in `packages/core/test/engine/worker-scale.test.ts`): a worker over the PostgreSQL store and the
 * graphile-worker adapter, one firm with 500 mailboxes and another with one. The big firm's passes
 * are enqueued first; the small firm's one must still run among the first few, not 501st.
 */
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { createWorker } from "@clientmail/core";
import { syncJob } from "@clientmail/core/internal";
import { silentLogger, type MailProvider } from "@clientmail/core/ports";
import { createPostgresJobQueue, createPostgresStore, installJobQueue, migrate } from "@clientmail/postgres";
import { MemoryMailbox } from "@clientmail/testkit";
import { dropDatabase, freshDatabase } from "../support/postgres.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const settings = { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" };

describe("fairness across firms on the PostgreSQL queue", () => {
  it("one firm's 500 mailboxes do not starve another firm's one: its pass runs among the first few (graphile-worker adapter)", async () => {
    const url = await freshDatabase("fair");
    const pool = new pg.Pool({ connectionString: url, max: 8 });
    pool.on("error", () => undefined);
    cleanups.push(async () => {
      await pool.end();
      await dropDatabase(url);
    });
    await migrate(pool);
    await installJobQueue(pool);
    const store = createPostgresStore({ pool });
    const owner = async (firmId: string, email: string) =>
      store.createMember(firmId, {
        name: "Owner",
        email,
        role: "owner",
        newMailNotifications: "none",
        timeZone: "UTC",
      });
    const big = await store.createFirm({
      name: "Big",
      internalDomains: ["big.example"],
      deletionMode: "mirror",
    });
    const small = await store.createFirm({
      name: "Small",
      internalDomains: ["small.example"],
      deletionMode: "mirror",
    });
    const bigOwner = await owner(big.id, "o@big.example");
    const smallOwner = await owner(small.id, "o@small.example");
    const bigIds = await store.transaction(async (tx) => {
      const ids: string[] = [];
      for (let i = 0; i < 500; i += 1) {
        const mailbox = await tx.createMailbox(
          big.id,
          {
            provider: "imap",
            address: `m${i}@big.example`,
            displayName: `m${i}`,
            ownerMemberId: bigOwner.id,
            settings,
          },
          new Date(),
        );
        ids.push(mailbox.id);
      }
      return ids;
    });
    const lone = await store.createMailbox(
      small.id,
      {
        provider: "imap",
        address: "lone@small.example",
        displayName: "lone",
        ownerMemberId: smallOwner.id,
        settings,
      },
      new Date(),
    );
    const queue = createPostgresJobQueue({ pool, store, retryDelayMs: () => 50, lockTimeoutMs: 5_000 });
    // The big firm's 500 passes wait first, then the small firm's one (start() adds nothing new:
    // the keys are taken).
    await queue.enqueue(
      store,
      bigIds.map((id) => syncJob(big.id, id)),
    );
    await queue.enqueue(store, [syncJob(small.id, lone.id)]);
    expect((await queue.stats()).waiting).toBe(501);
    const order: string[] = [];
    let reached = () => undefined as void;
    const smallFirmSynced = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const provider = (mailboxId: string): MailProvider => {
      const inner = new MemoryMailbox().provider();
      return {
        ...inner,
        changes: (cursor, options) => {
          if (!order.includes(mailboxId)) order.push(mailboxId);
          if (mailboxId === lone.id) reached();
          return inner.changes(cursor, options);
        },
      };
    };
    const worker = createWorker({
      store,
      queue,
      clock: { now: () => new Date() },
      logger: silentLogger,
      random: () => 0,
      holder: "fair",
      providerFor: (mailbox) => provider(mailbox.id),
      queuePollIntervalMs: 10,
      pollIntervalMs: 60 * 60_000,
      auditIntervalMs: 365 * 86_400_000,
      concurrency: 2,
      maxWatchers: 0,
    });
    cleanups.push(async () => {
      await worker.stop({ timeoutMs: 2_000 });
      await queue.close();
    });
    await worker.start();
    await Promise.race([
      smallFirmSynced,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error("the small firm's pass never ran")), 30_000),
      ),
    ]);
    // First come, first served would run it 501st; round-robin by firm runs it right away.
    expect(order.indexOf(lone.id)).toBeGreaterThanOrEqual(0);
    expect(order.indexOf(lone.id)).toBeLessThan(4);
  }, 60_000);
});
