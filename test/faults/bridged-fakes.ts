/**
 * The Gmail and Graph fakes for child-process workers: each fake runs in the test's process on a
 * loopback HTTP bridge (the testkit's `startHttpBridge`), with the firm's three mailboxes, and the
 * worker's real provider reaches it over plain http (`allowInsecure`, see `WorkerConfig.http`).
 * One virtual clock ({@link TrialTime}) is the fake's and — as their clock skew — the workers'.
 */
import {
  createGmailFake,
  createGraphFake,
  startHttpBridge,
  type GmailFake,
  type GraphFake,
  type HttpBridge,
} from "@clientmail/testkit";
import { staffAddresses, staffLabels } from "./corpus.js";
import type { FaultFirm } from "./harness.js";
import type { HttpTarget } from "./worker-protocol.js";

const day = 86_400_000;

/**
 * The trial's virtual time: the fake's clock, and the workers' (as their clock skew). Moving it
 * ahead moves the queue's waiting jobs with it, as `http-harness.ts` does.
 */
export class TrialTime {
  offset = 0;
  readonly clock = { now: () => new Date(Date.now() + this.offset) };

  async advance(firm: FaultFirm, ms: number): Promise<void> {
    this.offset += ms;
    await firm.pool.query(
      `UPDATE graphile_worker._private_jobs SET run_at = run_at - $1 * interval '1 millisecond'
       WHERE locked_at IS NULL AND attempts < max_attempts`,
      [ms],
    );
  }
}

/** A provider's fake with the firm's three mailboxes, on a loopback bridge. */
export interface Backend {
  kind: "gmail" | "graph";
  target: HttpTarget;
  /** Registrations the fake holds for a mailbox address: id → expiry (live ones only). */
  live(address: string): Map<string, Date>;
  /** Every live registration the fake holds (the provider forgets expired ones). */
  all(): Array<{ id: string; address: string; folder: string }>;
  /** How long a registration lives at this provider. */
  lifetimeMs: number;
  /** Registrations per mailbox (Graph: one per synced folder). */
  perMailbox: number;
  close(): Promise<void>;
}

export async function gmailBackend(firm: FaultFirm, time: TrialTime): Promise<Backend> {
  const fake: GmailFake = createGmailFake({ clock: time.clock });
  const users = staffLabels.map((label) => fake.addUser(staffAddresses[label]));
  const bridge: HttpBridge = await startHttpBridge(fake.fetch, (path) =>
    path.startsWith("/token")
      ? `https://oauth2.googleapis.com${path}`
      : `https://gmail.googleapis.com${path}`,
  );
  return {
    kind: "gmail",
    lifetimeMs: 7 * day,
    perMailbox: 1,
    target: {
      kind: "gmail",
      url: bridge.url,
      oauthClient: fake.oauthClient,
      mailboxes: Object.fromEntries(
        staffLabels.map((label) => [
          firm.mailboxIds[label],
          { address: staffAddresses[label], token: fake.refreshTokenOf(staffAddresses[label])! },
        ]),
      ),
    },
    live(address) {
      const user = users.find((u) => u.address === address.toLowerCase());
      const watch = user?.watch;
      return watch && watch.expiration > time.clock.now().getTime()
        ? new Map([[`gmail:${address.toLowerCase()}`, new Date(watch.expiration)]])
        : new Map();
    },
    all: () =>
      users.flatMap((u) =>
        u.watch && u.watch.expiration > time.clock.now().getTime()
          ? [{ id: `gmail:${u.address}`, address: u.address, folder: u.watch.topicName }]
          : [],
      ),
    close: () => bridge.close(),
  };
}

export async function graphBackend(firm: FaultFirm, time: TrialTime): Promise<Backend> {
  // The host's webhook: it answers Graph's validation requests; notifications are not what this
  // case is about.
  const deliver = async (request: Request): Promise<Response> => {
    const token = new URL(request.url).searchParams.get("validationToken");
    if (token !== null) return new Response(token, { headers: { "Content-Type": "text/plain" } });
    return new Response(null, { status: 202 });
  };
  const fake: GraphFake = createGraphFake({ clock: time.clock, deliver });
  for (const label of staffLabels) fake.addMailbox(staffAddresses[label]);
  const bridge = await startHttpBridge(fake.fetch, (path) => `https://graph.microsoft.com${path}`);
  return {
    kind: "graph",
    lifetimeMs: 3 * day,
    perMailbox: 2,
    target: {
      kind: "graph",
      url: bridge.url,
      mailboxes: Object.fromEntries(
        staffLabels.map((label) => [
          firm.mailboxIds[label],
          { address: staffAddresses[label], token: fake.accessTokenFor(staffAddresses[label]) },
        ]),
      ),
    },
    live(address) {
      const now = time.clock.now().getTime();
      return new Map(
        fake
          .subscriptions()
          .filter((s) => s.mailbox === address.toLowerCase() && s.expirationDateTime.getTime() > now)
          .map((s) => [s.id, s.expirationDateTime]),
      );
    },
    all: () =>
      fake
        .subscriptions()
        .filter((s) => s.expirationDateTime.getTime() > time.clock.now().getTime())
        .map((s) => ({ id: s.id, address: s.mailbox, folder: s.folderId ?? s.resource })),
    close: () => bridge.close(),
  };
}
