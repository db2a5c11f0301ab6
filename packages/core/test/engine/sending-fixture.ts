/**
 * A firm that sends: the engine fixture's firm plus an admin, the facade with an in-process job
 * queue, the outbox worker on that queue, and one fake sender per mailbox that delivers into the
 * mailbox's `Sent` folder (so a sync brings the provider's copy back).
 */
import { afterEach } from "vitest";
import { createMemoryJobQueue, type MemoryStore } from "@clientmail/memory";
import { FakeMailSender } from "@clientmail/testkit";
import { createClientMail, type AfterCrashPolicy } from "../../src/index.js";
import {
  invitationHandlers,
  outboxSendHandler,
  outboxSendJob,
  type OutboxDependencies,
} from "../../src/internal.js";
import {
  silentLogger,
  type Clock,
  type DocumentSource,
  type JobWorker,
  type SourceDocument,
  type Store,
} from "../../src/ports/index.js";
import { makeFirm } from "./firm-fixture.js";

/** Real time plus an offset the test moves forward: jobs and retries run on their own. */
export class ShiftClock implements Clock {
  offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

const workers: JobWorker[] = [];
afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.stop({ timeoutMs: 1_000 });
});

export async function makeSendingFirm(
  options: {
    afterCrash?: AfterCrashPolicy;
    /** Wraps the store the outbox worker uses (crash injection). */
    workerStore?: (store: Store) => Store;
    sentFolderLags?: () => boolean;
    sendLimits?: Parameters<typeof createClientMail>[0]["sendLimits"];
    documentSource?: DocumentSource;
  } = {},
) {
  const f = await makeFirm();
  const clock = new ShiftClock();
  const admin = await f.store.createMember(f.firm.id, {
    name: "Ada Admin",
    email: "ada@ledger.example",
    role: "admin",
    newMailNotifications: "none",
    timeZone: "UTC",
  });
  const queue = createMemoryJobQueue({ store: f.store as MemoryStore, clock, retryDelayMs: () => 2 });
  const senders = new Map<string, FakeMailSender>();
  const senderOf = (mailboxId: string): FakeMailSender => {
    let sender = senders.get(mailboxId);
    if (!sender) {
      const mailbox = [...Object.values(f.boxes)].find((b) => b.id === mailboxId)!;
      sender = new FakeMailSender({
        address: mailbox.address,
        mailbox: f.box(mailboxId),
        sentFolderLags: options.sentFolderLags,
      });
      senders.set(mailboxId, sender);
    }
    return sender;
  };
  const deps: OutboxDependencies = {
    store: options.workerStore ? options.workerStore(f.store) : f.store,
    queue,
    clock,
    logger: silentLogger,
    senderFor: (_firmId, mailbox) => senderOf(mailbox.id),
    holder: "test-worker",
    events: f.events,
    afterCrash: options.afterCrash,
    documentSource: options.documentSource,
  };
  // Invitations the facade enqueues (T2) are taken too; this fixture has no use for them.
  const worker = await queue.work(
    {
      [outboxSendJob]: outboxSendHandler(deps),
      ...invitationHandlers({ store: f.store, logger: silentLogger, deliver: async () => undefined }),
    },
    { pollIntervalMs: 5 },
  );
  workers.push(worker);
  const client = createClientMail({
    store: f.store,
    queue,
    clock,
    sendLimits: options.sendLimits,
    documentSource: options.documentSource,
  });
  /**
   * Waits until nothing due is waiting or running, three polls in a row 15 ms apart, so a retry
   * due a few milliseconds later (the queue's retry delay here is 2 ms) is waited for too.
   */
  const settle = async (timeoutMs = 10_000) => {
    const started = Date.now();
    let quiet = 0;
    while (quiet < 3) {
      const stats = await queue.stats();
      const dueWaiting =
        stats.oldestWaitingAt !== undefined && stats.oldestWaitingAt.getTime() <= clock.now().getTime();
      quiet = stats.running === 0 && !dueWaiting ? quiet + 1 : 0;
      if (Date.now() - started > timeoutMs) throw new Error(`jobs still pending: ${JSON.stringify(stats)}`);
      await new Promise((resolve) => setTimeout(resolve, quiet > 0 ? 15 : 3));
    }
  };
  const allDeliveries = () => [...senders.values()].flatMap((s) => s.deliveries);
  return {
    ...f,
    clock,
    admin,
    queue,
    senders,
    senderOf,
    deps,
    client,
    settle,
    allDeliveries,
    firmClock: f.clock,
  };
}

export type SendingFirm = Awaited<ReturnType<typeof makeSendingFirm>>;

/** The host's documents, per account: what members attach to outgoing mail. */
export class AccountDocuments implements DocumentSource {
  readonly documents = new Map<
    string,
    { accountId: string; filename: string; contentType: string; bytes: Uint8Array }
  >();
  reads = 0;

  add(documentId: string, accountId: string, filename: string, contentType: string, bytes: Uint8Array): void {
    this.documents.set(documentId, { accountId, filename, contentType, bytes });
  }

  async getDocument(
    _firmId: string,
    documentId: string,
    scope: { accountIds: readonly string[] },
  ): Promise<SourceDocument | undefined> {
    const document = this.documents.get(documentId);
    if (!document || !scope.accountIds.includes(document.accountId)) return undefined;
    return {
      filename: document.filename,
      contentType: document.contentType,
      size: document.bytes.byteLength,
      content: async function* (this: AccountDocuments) {
        this.reads += 1;
        yield document.bytes.slice(0, 3);
        yield document.bytes.slice(3);
      }.bind(this),
    };
  }
}
