/**
 * Sync benchmark (issue 4): full backfill of a generated Dovecot mailbox (default 20,000
 * messages, ~1 GB, 10% client mail) into PostgreSQL by clientmail, measured in the same run as
 *   (a) the floor: raw imapflow header fetch of every message + full fetch and parse of the client ones;
 *   (b) ingest everything: fetch and parse every message;
 * then the push latency from an IMAP APPEND to the engine's `message.filed` event (IDLE).
 *
 *   pnpm bench:sync                      # 20,000 messages
 *   BENCH_MESSAGES=2000 pnpm bench:sync  # a quick run
 *
 * Other settings: `BENCH_ROUNDS=3` alternates floor and backfill three times (a new firm each
 * time) and reports the round with the median ratio, which steadies the figure on a loaded
 * machine; `BENCH_INGEST=0` skips the ingest-everything baseline; `BENCH_LATENCY_SAMPLES=0`
 * skips the push-latency part; `BENCH_MARKS=1` prints when each phase starts and ends (to cut a
 * `node --cpu-prof` profile to the backfill).
 */
import { EventEmitter } from "eventemitter3";
import pg from "pg";
import { ImapFlow } from "imapflow";
import {
  createAesGcmKeyring,
  createClientMail,
  generateKeyringKey,
  SyncService,
  type SyncEvents,
} from "@clientmail/core";
import { silentLogger } from "@clientmail/core/ports";
import { createImapProvider } from "@clientmail/imap";
import { createPostgresStore, migrate } from "@clientmail/postgres";
import { loopbackHostPolicy } from "../packages/testkit/src/loopback-host-policy.js";
import { start as startPostgres } from "../test/servers/postgres.js";
import { createSyncFixture } from "./sync-fixtures.js";
import {
  formatResult,
  measureFloor,
  measureIngestEverything,
  startRssSampler,
  type BaselineResult,
} from "./sync-baselines.js";

/**
 * Wall-clock time during which a provider call of each kind was in flight (waiting on the
 * iterator), and during which any was. The engine lists the next page while it fetches and
 * writes the current one, so the two kinds overlap: the breakdown reports each kind, and as
 * "engine+store alone" only the time when no provider call was in flight.
 */
const inFlight = { changes: 0, fetch: 0, any: 0 };
const active = { changes: 0, fetch: 0 };
const activeSince = { changes: 0, fetch: 0, any: 0 };
function began(kind: keyof typeof active): void {
  const now = performance.now();
  if (active[kind]++ === 0) activeSince[kind] = now;
  if (active.changes + active.fetch === 1) activeSince.any = now;
}
function ended(kind: keyof typeof active): void {
  const now = performance.now();
  if (--active[kind] === 0) inFlight[kind] += now - activeSince[kind];
  if (active.changes + active.fetch === 0) inFlight.any += now - activeSince.any;
}
function timed<T>(kind: keyof typeof active, iterable: AsyncIterable<T>): AsyncIterable<T> {
  return {
    async *[Symbol.asyncIterator]() {
      const iterator = iterable[Symbol.asyncIterator]();
      for (;;) {
        began(kind);
        let next: IteratorResult<T>;
        try {
          next = await iterator.next();
        } finally {
          ended(kind);
        }
        if (next.done) return;
        yield next.value;
      }
    },
  };
}

const latencySamples = Number(process.env.BENCH_LATENCY_SAMPLES ?? 40);
const roundCount = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const postgres = await startPostgres({ durable: true });
  const fixture = await createSyncFixture();
  console.log(
    `sync benchmark: ${fixture.messageCount.toLocaleString("en-US")} messages, ${(fixture.totalBytes / 2 ** 20).toFixed(0)} MiB, ` +
      `${fixture.clientMessageIds.size.toLocaleString("en-US")} client messages (generated in ${fixture.generationSeconds.toFixed(1)} s)`,
  );
  const pool = new pg.Pool({ connectionString: postgres.env.CLIENTMAIL_TEST_DATABASE_URL, max: 10 });
  try {
    await migrate(pool);
    const baselineMailbox = {
      server: fixture.server,
      user: fixture.user,
      folders: fixture.folders,
      clientMessageIds: fixture.clientMessageIds,
    };
    const mark = (label: string) => {
      if (process.env.BENCH_MARKS)
        console.log(`  mark ${label} at ${(performance.now() / 1000).toFixed(2)} s`);
    };
    const store = createPostgresStore({ pool });
    const cm = createClientMail({ store });

    /** One full backfill of the mailbox by a new firm (clients = the fixture's client addresses). */
    const backfill = async (round: number) => {
      const firm = await cm.createFirm({
        name: `Benchmark firm ${round}`,
        internalDomains: [fixture.firmDomain],
      });
      // The owner keeps the default new-mail setting, so N1 notices are part of the work measured.
      const owner = await cm.addMember(firm.id, { name: "Owner", email: fixture.ownerAddress });
      await cm.createAccount(firm.id, {
        name: "Clients",
        kind: "business",
        contacts: fixture.clientAddresses.map((email, i) => ({
          firstName: `Client ${i}`,
          emails: [{ email, emailSync: true }],
        })),
      });
      const mailbox = await cm.connectMailbox(firm.id, owner.id, {
        provider: "imap",
        address: fixture.ownerAddress,
      });
      const events = new EventEmitter<SyncEvents>();
      const sync = new SyncService({
        store,
        clock: { now: () => new Date() },
        logger: silentLogger,
        events,
        keyring: createAesGcmKeyring({ keys: { bench: generateKeyringKey() }, currentKeyId: "bench" }),
        holder: "bench",
        providerFor: () => {
          const provider = createImapProvider({
            host: fixture.server.host,
            port: fixture.server.port,
            security: "none",
            hostPolicy: loopbackHostPolicy,
            user: fixture.user.user,
            password: fixture.user.password,
            folders: fixture.folders,
          });
          return {
            ...provider,
            kind: provider.kind,
            changes: (c, o) => timed("changes", provider.changes(c, o)),
            fetch: (ids, o) => timed("fetch", provider.fetch(ids, o)),
            search: provider.search.bind(provider),
            watch: provider.watch.bind(provider),
            close: provider.close.bind(provider),
          };
        },
      });
      let filed = 0;
      events.on("message.filed", (event) => {
        if (event.created) filed += 1;
      });
      Object.assign(inFlight, { changes: 0, fetch: 0, any: 0 });
      const stopRss = startRssSampler();
      mark("backfill start");
      const started = performance.now();
      const outcome = await sync.syncMailbox(firm.id, mailbox.id);
      mark("backfill end");
      const seconds = (performance.now() - started) / 1000;
      const result: BaselineResult = {
        name: "clientmail backfill into Postgres",
        messages: fixture.messageCount,
        parsed: filed,
        seconds,
        msgsPerSecond: fixture.messageCount / seconds,
        peakRssMiB: stopRss(),
      };
      if (outcome !== "ok") throw new Error(`sync ended ${outcome}`);
      if (filed !== fixture.clientMessageIds.size)
        throw new Error(`filed ${filed} of ${fixture.clientMessageIds.size} client messages`);
      return { result, breakdown: { ...inFlight }, sync, firm, mailbox, events };
    };

    // Floor and backfill alternate, so that both see the same load on a shared machine; with
    // several rounds the round with the median ratio is reported, with every round's ratio.
    const rounds: Array<{ floor: BaselineResult; run: Awaited<ReturnType<typeof backfill>> }> = [];
    for (let round = 0; round < roundCount; round++) {
      mark("floor start");
      const floor = await measureFloor(baselineMailbox);
      mark("floor end");
      const run = await backfill(round);
      rounds.push({ floor, run });
      if (round < roundCount - 1) await run.sync.closeAll();
    }
    const ratioOf = (r: (typeof rounds)[number]) => r.run.result.seconds / r.floor.seconds;
    const median = [...rounds].sort((a, b) => ratioOf(a) - ratioOf(b))[Math.floor((rounds.length - 1) / 2)]!;
    const { floor } = median;
    const ours = median.run.result;
    const { sync, firm, mailbox, events } = rounds[rounds.length - 1]!.run;

    const ingest =
      process.env.BENCH_INGEST === "0" ? undefined : await measureIngestEverything(baselineMailbox);

    console.log(`  ${formatResult(floor)}`);
    console.log(`  ${formatResult(ours)}`);
    if (ingest) console.log(`  ${formatResult(ingest)}`);
    console.log(
      `  clientmail / floor           : ${ratioOf(median).toFixed(2)}x the time (target <= 1.3)` +
        (rounds.length > 1
          ? `, median of ${rounds.length} rounds: ${rounds.map((r) => ratioOf(r).toFixed(2)).join(", ")}`
          : ""),
    );
    if (ingest)
      console.log(
        `  ingest-everything / clientmail: ${(ingest.seconds / ours.seconds).toFixed(2)}x faster (target >= 5)`,
      );
    const seconds3 = (ms: number) => (ms / 1000).toFixed(2);
    const { breakdown } = median.run;
    console.log(
      `  clientmail breakdown         : listing in flight ${seconds3(breakdown.changes)} s, fetch+parse in flight ${seconds3(breakdown.fetch)} s ` +
        `(either: ${seconds3(breakdown.any)} s), engine+store alone ${(ours.seconds - breakdown.any / 1000).toFixed(2)} s`,
    );
    console.log(`  clientmail peak RSS          : ${ours.peakRssMiB} MiB (target <= 256)`);

    if (latencySamples === 0) {
      await sync.closeAll();
      return;
    }
    // Push latency: APPEND one client message at a time and time it until `message.filed`.
    const controller = new AbortController();
    const running = sync.runMailbox(firm.id, mailbox.id, controller.signal, { pollIntervalMs: 60_000 });
    const appender = new ImapFlow({
      host: fixture.server.host,
      port: fixture.server.port,
      secure: false,
      doSTARTTLS: false,
      auth: { user: fixture.user.user, pass: fixture.user.password },
      logger: false,
    });
    appender.on("error", () => undefined);
    await appender.connect();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const latencies: number[] = [];
    for (let i = 0; i < latencySamples; i++) {
      const messageId = `<latency-${i}-${Date.now()}@bench.example>`;
      const raw = [
        `From: ${fixture.clientAddresses[0]}`,
        `To: ${fixture.ownerAddress}`,
        `Subject: Latency ${i}`,
        `Message-ID: ${messageId}`,
        `Date: ${new Date().toUTCString()}`,
        "",
        "ping",
        "",
      ].join("\r\n");
      const seen = new Promise<number>((resolve) => {
        const onFiled = () => {
          events.off("message.filed", onFiled);
          resolve(performance.now());
        };
        events.on("message.filed", onFiled);
      });
      await appender.append("INBOX", raw);
      const appendedAt = performance.now();
      latencies.push((await seen) - appendedAt);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await appender.logout();
    controller.abort();
    await running.catch(() => undefined);
    await sync.closeAll();
    console.log(
      `  IDLE latency APPEND -> message.filed over ${latencies.length}: p50 ${percentile(latencies, 50).toFixed(0)} ms, ` +
        `p99 ${percentile(latencies, 99).toFixed(0)} ms (targets 1000 / 3000)`,
    );
  } finally {
    await pool.end();
    await fixture.stop();
    await postgres.stop();
  }
}

await main();
