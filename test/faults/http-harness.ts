/**
 * The fault suite on the HTTP providers: the corpus in the testkit's Gmail or Graph fake, a
 * production worker (`createWorker`, the PostgreSQL store and job queue, a folder blob store) and
 * the real provider in this process, the firm in a database of its own, and one virtual clock for
 * the fake, the provider and the engine. Waits cost no real time: when nothing runs and nothing is
 * due, the clock jumps to the next job's time — so a storm of rate limits with minutes of
 * Retry-After runs in seconds.
 */
import type pg from "pg";
import { createWorker } from "@clientmail/core";
import type { MailProvider, Store } from "@clientmail/core/ports";
import { silentLogger } from "@clientmail/core/ports";
import { createFolderBlobStore } from "@clientmail/folder";
import { createGmailProvider } from "@clientmail/gmail";
import { createGraphProvider } from "@clientmail/graph";
import { createPostgresJobQueue } from "@clientmail/postgres";
import {
  createGmailFake,
  createGraphFake,
  type GmailFake,
  type GraphFake,
  type GraphFakeMailbox,
} from "@clientmail/testkit";
import { staffAddresses, staffLabels, tagOf, type Corpus, type StaffLabel } from "./corpus.js";
import { digestFirm, type FaultDigest } from "./digest.js";
import type { FaultFirm, FaultSuite } from "./harness.js";
import { isIdle, PassWatch, pollIntervalMs, queueLoad, watchQueue, wraps } from "./jobs.js";

/**
 * A clock ahead of real time by an offset that grows whenever something waits: a provider's
 * sleep, or the harness skipping to the next due job. Jobs wait in the database on its real clock,
 * so their run-at is translated on the way in, and moved with the clock when it jumps.
 */
export class VirtualTime {
  private offset = 0;
  private pool: pg.Pool | undefined;

  readonly clock = { now: () => new Date(Date.now() + this.offset) };

  /** The firm's database, whose waiting jobs move with this clock. */
  attach(pool: pg.Pool): void {
    this.pool = pool;
  }

  /** The real (database) time of a virtual instant. */
  toReal(at: Date): Date {
    return new Date(at.getTime() - this.offset);
  }

  async advance(ms: number): Promise<void> {
    if (!(ms > 0)) return;
    this.offset += ms;
    await this.pool?.query(
      `UPDATE graphile_worker._private_jobs SET run_at = run_at - $1 * interval '1 millisecond'
       WHERE locked_at IS NULL AND attempts < max_attempts`,
      [ms],
    );
  }

  readonly sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
    await this.advance(ms);
  };
}

/** A provider's fake with the firm's three mailboxes in it. */
export interface HttpBackend {
  kind: "gmail" | "graph";
  time: VirtualTime;
  /** Requests the providers made so far. */
  readonly requests: number;
  /** Called before each request the providers make, with its number (from 1). */
  onRequest: ((n: number) => void) | undefined;
  load(corpus: Corpus): void;
  provider(label: StaffLabel): MailProvider;
  identityOfCopy(label: StaffLabel, providerId: string): string | undefined;
}

function countingFetch(
  backend: { requests: number; onRequest: ((n: number) => void) | undefined },
  inner: typeof fetch,
): typeof fetch {
  return async (...args: Parameters<typeof fetch>) => {
    backend.requests += 1;
    backend.onRequest?.(backend.requests);
    return inner(...args);
  };
}

export function gmailBackend(time = new VirtualTime()): HttpBackend & { fake: GmailFake } {
  const fake = createGmailFake({ clock: time.clock });
  const users = Object.fromEntries(
    staffLabels.map((label) => [label, fake.addUser(staffAddresses[label])]),
  ) as Record<StaffLabel, ReturnType<GmailFake["addUser"]>>;
  const backend = {
    kind: "gmail" as const,
    time,
    fake,
    requests: 0,
    onRequest: undefined as ((n: number) => void) | undefined,
    load(corpus: Corpus) {
      for (const message of corpus.messages)
        for (const copy of message.copies)
          users[copy.mailbox].addMessage({
            raw: message.raw.toString("utf8"),
            labelIds: copy.folder === "Sent" ? ["SENT"] : ["INBOX", "UNREAD"],
            internalDate: message.date,
          });
    },
    provider(label: StaffLabel): MailProvider {
      return createGmailProvider({
        credentials: { ...fake.oauthClient, refreshToken: fake.refreshTokenOf(staffAddresses[label])! },
        emailAddress: staffAddresses[label],
        fetch: countingFetch(backend, fake.fetch),
        clock: time.clock,
        sleep: time.sleep,
        pageSize: 20,
      });
    },
    identityOfCopy(label: StaffLabel, providerId: string) {
      const message = users[label].messages.get(providerId);
      // The fake keeps the source as a string or, newer, as bytes.
      return message ? tagOf(Buffer.from(message.raw).toString("latin1")) : undefined;
    },
  };
  return backend;
}

export function graphBackend(
  time = new VirtualTime(),
): HttpBackend & { fake: GraphFake; mailboxes: Record<StaffLabel, GraphFakeMailbox> } {
  const fake = createGraphFake({ clock: time.clock });
  const mailboxes = Object.fromEntries(
    staffLabels.map((label) => [label, fake.addMailbox(staffAddresses[label])]),
  ) as Record<StaffLabel, ReturnType<GraphFake["addMailbox"]>>;
  const backend = {
    kind: "graph" as const,
    time,
    fake,
    mailboxes,
    requests: 0,
    onRequest: undefined as ((n: number) => void) | undefined,
    load(corpus: Corpus) {
      for (const message of corpus.messages)
        for (const copy of message.copies)
          mailboxes[copy.mailbox].addRawMessage(message.raw, copy.folder === "Sent" ? "sentitems" : "inbox");
    },
    provider(label: StaffLabel): MailProvider {
      const address = staffAddresses[label];
      return createGraphProvider({
        mailbox: address,
        getAccessToken: async () => fake.accessTokenFor(address),
        fetch: countingFetch(backend, fake.fetch),
        clock: time.clock,
        sleep: time.sleep,
        random: () => 0.5,
        pageSize: 20,
      });
    },
    identityOfCopy(label: StaffLabel, providerId: string) {
      const message = mailboxes[label].message(providerId);
      return message ? (tagOf(message.subject) ?? tagOf(message.internetMessageId ?? "")) : undefined;
    },
  };
  return backend;
}

/** What a run on an HTTP backend did. */
export interface HttpRun {
  firm: FaultFirm;
  /** Every mailbox completed a pass and the queue was idle. */
  synced: boolean;
  /** A mailbox was stopped by the engine. */
  stopped: boolean;
  /** Mailbox label → every state the engine set, in order. */
  statuses: Record<string, string[]>;
  /**
   * Every wait the engine scheduled for a mailbox (a pass's follow-up job due later), with the
   * mailbox's state then; the polls after a completed pass are left out.
   */
  waits: Array<{
    mailbox: StaffLabel;
    ms: number;
    status: string;
    until?: Date | undefined;
    at: Date;
    /** The error a `retrying` mailbox last had, to tell why a wait was not a throttle. */
    lastError?: string | undefined;
  }>;
  digest(): Promise<FaultDigest>;
}

/** Records the states the engine sets and the leases it takes (and nothing else changes). */
function recordingStore(
  store: Store,
  labels: ReadonlyMap<string, StaffLabel>,
  statuses: Record<string, string[]>,
  onLease: (mailboxId: string) => void,
): Store {
  const recording = new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      const method = value as (...args: unknown[]) => unknown;
      if (prop === "acquireLease")
        return async (...args: unknown[]) => {
          const token = await method.apply(target, args);
          if (token !== undefined) onLease(args[1] as string);
          return token;
        };
      if (prop !== "setMailboxState") return method.bind(target);
      return (...args: unknown[]) => {
        const label = labels.get(args[1] as string) ?? String(args[1]);
        (statuses[label] ??= []).push((args[2] as { status: string }).status);
        return method.apply(target, args);
      };
    },
  });
  return wraps(recording, store);
}

const realSleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs a worker for a fresh firm's three mailboxes on `backend` until every mailbox completed a
 * pass and the queue is idle (or a mailbox was stopped, or `maxPasses` passes went by), skipping
 * the virtual clock ahead whenever the worker only waits.
 */
export async function runHttpFirm(
  suite: FaultSuite,
  backend: HttpBackend,
  options: { maxConsecutiveFailures?: number; maxPasses?: number; realTimeoutMs?: number } = {},
): Promise<HttpRun> {
  const firm = await suite.createFirm(backend.kind);
  const { time } = backend;
  time.attach(firm.pool);
  const statuses: Record<string, string[]> = {};
  const waits: HttpRun["waits"] = [];
  let passCount = 0;
  const passes = new PassWatch(firm.store, firm.firmId, time.clock.now, () => {
    passCount += 1;
  });
  const store = recordingStore(firm.store, firm.mailboxes, statuses, (mailboxId) =>
    passes.noteLease(mailboxId),
  );
  const queue = watchQueue(
    createPostgresJobQueue({
      pool: firm.pool,
      store: firm.store,
      retryDelayMs: () => 50,
      lockTimeoutMs: 5_000,
    }),
    {
      runAt: (at) => time.toReal(at),
      onEnqueued: async (jobs) => {
        for (const job of jobs) {
          const mailboxId = job.payload.mailboxId;
          if (job.name !== "sync.mailbox" || !job.runAt || typeof mailboxId !== "string") continue;
          const at = time.clock.now();
          const ms = job.runAt.getTime() - at.getTime();
          if (ms <= 0) continue;
          const state = (await firm.store.getMailbox(firm.firmId, mailboxId))?.state;
          if (state?.status === "live") continue;
          waits.push({
            mailbox: firm.mailboxes.get(mailboxId)!,
            ms,
            status: state?.status ?? "missing",
            until: state?.status === "throttled" ? state.until : undefined,
            at,
            lastError:
              state?.status === "retrying"
                ? [state.lastError, state.lastErrorMessage].filter(Boolean).join(": ")
                : undefined,
          });
        }
      },
      handler: (_name, inner) => (job, signal) => passes.run(job, () => inner(job, signal)),
    },
  );
  const worker = createWorker({
    store,
    queue,
    blobs: createFolderBlobStore({ dir: firm.blobsDir }),
    documents: firm.documents,
    clock: time.clock,
    logger: silentLogger,
    holder: "faults-http",
    random: () => 0.5,
    maxConsecutiveFailures: options.maxConsecutiveFailures,
    pollIntervalMs,
    queuePollIntervalMs: 20,
    providerFor: (mailbox) => backend.provider(firm.mailboxes.get(mailbox.id)!),
  });
  let synced = false;
  let stopped = false;
  const deadline = Date.now() + (options.realTimeoutMs ?? 90_000);
  await worker.start();
  try {
    while (Date.now() < deadline && passCount <= (options.maxPasses ?? 600)) {
      await realSleep(20);
      const mailboxes = await firm.store.listMailboxes(firm.firmId);
      if (mailboxes.some((m) => m.state.status === "stopped")) {
        stopped = true;
        break;
      }
      const load = await queueLoad(firm.pool);
      if (mailboxes.every((m) => passes.synced.has(m.id)) && isIdle(load)) {
        synced = true;
        break;
      }
      // Only waiting: skip to the next job's time.
      if (load.running === 0 && load.dueNow === 0 && load.nextRunAt)
        await time.advance(load.nextRunAt.getTime() - Date.now() + 1);
    }
  } finally {
    await worker.stop({ timeoutMs: 2_000 });
  }
  return {
    firm,
    synced,
    stopped,
    statuses,
    waits,
    digest: () =>
      digestFirm({
        store: firm.store,
        queue: firm.queue,
        firmId: firm.firmId,
        accounts: firm.accounts,
        members: firm.members,
        mailboxes: firm.mailboxes,
        documents: firm.documents,
        identityOfCopy: async (mailboxId, providerId) => {
          const label = firm.mailboxes.get(mailboxId);
          return label ? backend.identityOfCopy(label, providerId) : undefined;
        },
      }),
  };
}
