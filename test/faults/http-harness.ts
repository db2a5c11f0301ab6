/**
 * The fault suite on the HTTP providers: the corpus in the testkit's Gmail or Graph fake, the real
 * engine (`SyncService`) and provider in this process, the firm in PostgreSQL, and one virtual
 * clock for the fake, the provider and the engine — waits cost no real time, so a storm of rate
 * limits with minutes of Retry-After runs in seconds.
 */
import { SyncService } from "@clientmail/core";
import type { MailProvider, Store } from "@clientmail/core/ports";
import { createGmailProvider } from "@clientmail/gmail";
import { createGraphProvider } from "@clientmail/graph";
import {
  createGmailFake,
  createGraphFake,
  type GmailFake,
  type GraphFake,
  type GraphFakeMailbox,
} from "@clientmail/testkit";
import { silentLogger } from "@clientmail/core/ports";
import { staffAddresses, staffLabels, tagOf, type Corpus, type StaffLabel } from "./corpus.js";
import { digestFirm, type FaultDigest } from "./digest.js";
import type { FaultFirm, FaultSuite } from "./harness.js";

/** A clock whose sleeps advance it at once. */
export class VirtualTime {
  private now: number;

  constructor(start = Date.now()) {
    this.now = start;
  }

  readonly clock = { now: () => new Date(this.now) };

  advance(ms: number): void {
    this.now += Math.max(0, ms);
  }

  readonly sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
    this.advance(ms);
    await Promise.resolve();
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
  /** Every mailbox completed a pass. */
  synced: boolean;
  /** A mailbox was stopped by the engine. */
  stopped: boolean;
  /** Mailbox label → every state the engine set, in order. */
  statuses: Record<string, string[]>;
  /** Every wait of the engine, with the mailbox's state while it waited. */
  waits: Array<{ mailbox: StaffLabel; ms: number; status: string; until?: Date | undefined; at: Date }>;
  digest(): Promise<FaultDigest>;
}

/** Records the states the engine sets (and nothing else changes). */
function recordingStore(
  store: Store,
  labels: ReadonlyMap<string, StaffLabel>,
  statuses: Record<string, string[]>,
): Store {
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      const method = value as (...args: unknown[]) => unknown;
      if (prop !== "setMailboxState") return method.bind(target);
      return (...args: unknown[]) => {
        const label = labels.get(args[1] as string) ?? String(args[1]);
        (statuses[label] ??= []).push((args[2] as { status: string }).status);
        return method.apply(target, args);
      };
    },
  });
}

/**
 * Syncs a fresh firm's three mailboxes from `backend` until each completed a pass (or was stopped,
 * or `maxPasses` calls went by): what a host's scheduler does with `SyncService.syncMailbox`.
 */
export async function runHttpFirm(
  suite: FaultSuite,
  backend: HttpBackend,
  options: { maxConsecutiveFailures?: number; maxPasses?: number } = {},
): Promise<HttpRun> {
  const firm = await suite.createFirm(backend.kind);
  const { time } = backend;
  const statuses: Record<string, string[]> = {};
  const waits: HttpRun["waits"] = [];
  let current: StaffLabel = "ann";
  const sync = new SyncService({
    store: recordingStore(suite.store, firm.mailboxes, statuses),
    clock: time.clock,
    logger: silentLogger,
    documents: firm.documents,
    holder: "faults-http",
    random: () => 0.5,
    maxConsecutiveFailures: options.maxConsecutiveFailures,
    sleep: async (ms, signal) => {
      const state = (await suite.store.getMailbox(firm.firmId, firm.mailboxIds[current]))?.state;
      waits.push({
        mailbox: current,
        ms,
        status: state?.status ?? "missing",
        until: state?.status === "throttled" ? state.until : undefined,
        at: time.clock.now(),
      });
      await time.sleep(ms, signal);
    },
    providerFor: (mailbox) => backend.provider(firm.mailboxes.get(mailbox.id)!),
  });
  let synced = true;
  let stopped = false;
  try {
    for (const label of staffLabels) {
      current = label;
      let done = false;
      for (let pass = 0; pass < (options.maxPasses ?? 200) && !done; pass++) {
        const started = time.clock.now().getTime();
        if ((await sync.syncMailbox(firm.firmId, firm.mailboxIds[label])) === "stopped") {
          stopped = true;
          break;
        }
        const mailbox = await suite.store.getMailbox(firm.firmId, firm.mailboxIds[label]);
        if (mailbox?.lastSyncedAt && mailbox.lastSyncedAt.getTime() >= started) done = true;
        else if (mailbox?.state.status === "throttled")
          time.advance(mailbox.state.until.getTime() - time.clock.now().getTime());
        else time.advance(1_000);
      }
      if (!done) synced = false;
    }
  } finally {
    await sync.closeAll();
  }
  return {
    firm,
    synced: synced && !stopped,
    stopped,
    statuses,
    waits,
    digest: () =>
      digestFirm({
        store: suite.store,
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
