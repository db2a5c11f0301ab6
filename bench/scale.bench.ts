/**
 * Scale benchmark (issue "durable work", item 7): many mailboxes on the Gmail and Graph fakes
 * (their quotas, plus a per-request latency) and Dovecot mailboxes, synced by N worker processes
 * (`scale-worker.ts`: `createWorker` on one PostgreSQL, its job queue and its pacing). For each N
 * it prints the time until every mailbox finished its backfill and the growth over one worker;
 * on the last N, the push → `message.filed` latency under steady load, how long the mailboxes a
 * SIGKILLed worker was syncing take to resume elsewhere, and the jobs lost or done twice.
 *
 *   pnpm bench:scale                        # 300 HTTP mailboxes + 4 Dovecot, 1, 2 and 4 workers
 *   pnpm bench:scale --full                 # the issue's size: 10,000 + 50 Dovecot
 *   pnpm bench:scale --mailboxes=600 --dovecot=8 --workers=1,4 --messages=12 --steady=20
 *
 * The fakes, their loopback HTTP bridges and Dovecot share the machine with the workers, so the
 * growth measured is bounded by the cores (printed with the results).
 */
import { fork, type ChildProcess } from "node:child_process";
import { availableParallelism, cpus, hostname, loadavg, tmpdir } from "node:os";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";
import { ImapFlow } from "imapflow";
import pg from "pg";
import {
  createAesGcmKeyring,
  defaultNotifyPreferences,
  generateKeyringKey,
  type PushNotification,
} from "@clientmail/core";
import { createPostgresStore, installJobQueue, migrate } from "@clientmail/postgres";
import { dovecotAvailability, startDovecot, type DovecotServer } from "../packages/testkit/src/dovecot.js";
import { createGmailFake } from "../packages/testkit/src/fakes/gmail/fake.js";
import { buildRawMessage } from "../packages/testkit/src/fakes/gmail/compose.js";
import { createGraphFake, graphBaseUrl } from "../packages/testkit/src/fakes/graph/fake.js";
import { startHttpBridge, type HttpBridge } from "../packages/testkit/src/http-bridge.js";
import { start as startPostgres } from "../test/servers/postgres.js";
import type { FromWorker, ScaleCredentials, ToWorker, WorkerMemory } from "./scale-worker.js";

// ------------------------------------------------------------------------------------ settings

const flags = new Map(
  process.argv.slice(2).map((arg) => {
    const [name, value] = arg.replace(/^--/, "").split("=");
    return [name!, value ?? "true"] as const;
  }),
);
const full = flags.get("full") === "true";
const settings = {
  httpMailboxes: Number(flags.get("mailboxes") ?? (full ? 10_000 : 300)),
  dovecotMailboxes: Number(flags.get("dovecot") ?? (full ? 50 : 4)),
  workerCounts: (flags.get("workers") ?? "1,2,4").split(",").map(Number),
  /** Messages per mailbox; a third are client mail. */
  messages: Number(flags.get("messages") ?? 9),
  mailboxesPerFirm: 20,
  concurrency: Number(flags.get("concurrency") ?? 8),
  leaseTtlMs: Number(flags.get("lease-ttl") ?? 15_000),
  pollMs: 5 * 60_000,
  /** Latency of every Gmail and Graph request (the fakes answer at once otherwise). */
  latencyMs: Number(flags.get("latency") ?? 20),
  steadySeconds: Number(flags.get("steady") ?? 15),
  steadyPerSecond: Number(flags.get("rate") ?? 4),
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

// ------------------------------------------------------------------------------------ worker processes

async function workerBundle(): Promise<string> {
  const outfile = join(tmpdir(), `clientmail-scale-worker-${process.pid}.mjs`);
  await build({
    entryPoints: [join(import.meta.dirname, "scale-worker.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["@clientmail/source"],
    external: ["pg-native"],
    logLevel: "error",
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
  });
  return outfile;
}

class WorkerProcess {
  readonly child: ChildProcess;
  alive = true;
  /** The process's peak memory, as it last reported it. */
  memory: WorkerMemory | undefined;
  /** Pushes handed to it that it has not yet answered (the host's webhook is still waiting). */
  readonly unanswered = new Map<
    number,
    { firmId: string; notification: PushNotification; address?: string }
  >();
  private readonly waiters = new Map<string, () => void>();

  constructor(bundle: string, env: Record<string, string>) {
    this.child = fork(bundle, [], {
      env: { ...process.env, ...env },
      // Plain node, as in production: the bundle is JavaScript already, and this process's
      // TypeScript loader (tsx) would otherwise be inherited, costing each worker ~600 MB.
      execArgv: [],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (message: FromWorker) => {
      if (message.type === "error") console.error(`worker ${this.child.pid}: ${message.message}`);
      if (message.type === "notified") this.unanswered.delete(message.id);
      if (message.type === "memory" || message.type === "stopped") this.memory = message.memory;
      this.waiters.get(message.type)?.();
    });
    this.child.on("exit", () => {
      this.alive = false;
      this.waiters.get("stopped")?.();
    });
  }

  get holderPrefix(): string {
    return `${hostname()}-${this.child.pid}#`;
  }

  wait(type: FromWorker["type"]): Promise<void> {
    return new Promise((resolve) => this.waiters.set(type, resolve));
  }

  send(message: ToWorker): void {
    if (!this.alive) return;
    if (message.type === "notify")
      this.unanswered.set(message.id, { firmId: message.firmId, notification: message.notification });
    this.child.send(message);
  }

  async reportMemory(snapshot = false): Promise<void> {
    if (!this.alive) return;
    const reported = this.wait("memory");
    this.send({ type: "memory", snapshot });
    await Promise.race([reported, sleep(snapshot ? 120_000 : 10_000)]);
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    const stopped = this.wait("stopped");
    this.send({ type: "stop" });
    await Promise.race([stopped, sleep(20_000)]);
    if (this.alive) this.child.kill("SIGKILL");
  }
}

// ------------------------------------------------------------------------------------ one round

interface Round {
  workers: number;
  backfillMs: number;
  mailboxes: number;
  clientMessages: number;
  steady?: { gmail: number[]; graph: number[]; imap: number[] };
  kill?: {
    inFlight: number;
    /** Until another worker had taken the lease of every mailbox in flight on the killed one. */
    resumeMs: number | undefined;
    /** Until those mailboxes' resumed passes had all ended. */
    resumeDoneMs: number | undefined;
    /** Until the queue had unlocked every job the killed worker held. */
    unlockedMs: number | undefined;
    /** Pushes the killed worker had been handed and not answered. */
    unansweredPushes: number;
    burstFiledMs: number;
  };
  memory: WorkerMemory[];
  lost: number;
  deadLetters: number;
  duplicateMessages: number;
  duplicateNotifications: number;
}

async function runRound(
  serverUrl: string,
  dovecot: DovecotServer | undefined,
  bundle: string,
  workers: number,
  last: boolean,
): Promise<Round> {
  // A database of its own.
  const name = `scale_${workers}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 8 });
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  await migrate(pool);
  await installJobQueue(pool);
  const store = createPostgresStore({ pool });
  const key = generateKeyringKey();
  const keyring = createAesGcmKeyring({ keys: { k1: key }, currentKeyId: "k1" });

  // The providers' services.
  const children: WorkerProcess[] = [];
  let nextChild = 0;
  let nextPush = 0;
  /** Every push handed to a worker: to which, when, and for which mailbox (address or subscriptions). */
  const pushLog: {
    id: number;
    child: WorkerProcess;
    at: number;
    address?: string;
    subscriptions?: string[];
  }[] = [];
  const forward = (firmId: string, notification: PushNotification, address?: string) => {
    const alive = children.filter((c) => c.alive);
    if (alive.length === 0) return;
    const child = alive[nextChild++ % alive.length]!;
    const id = ++nextPush;
    const items = (notification.body as { value?: { subscriptionId?: string }[] }).value;
    pushLog.push({
      id,
      child,
      at: Date.now(),
      address,
      subscriptions: Array.isArray(items) ? items.map((item) => String(item.subscriptionId)) : undefined,
    });
    child.send({ type: "notify", id, firmId, notification });
    if (address !== undefined) child.unanswered.get(id)!.address = address;
  };
  const firmOfAddress = new Map<string, string>();
  const gmail = createGmailFake();
  const graph = createGraphFake({
    latencyMs: settings.latencyMs,
    deliver: async (request) => {
      const token = new URL(request.url).searchParams.get("validationToken");
      if (token !== null) return new Response(token, { headers: { "Content-Type": "text/plain" } });
      // The host puts the firm in each mailbox's notification URL, and routes by it.
      const firmId = new URL(request.url).searchParams.get("firm");
      if (firmId !== null) forward(firmId, { provider: "graph", body: await request.json() });
      return new Response(null, { status: 202 });
    },
  });
  gmail.onPush((push, user) => {
    const firmId = firmOfAddress.get(user);
    if (firmId !== undefined) forward(firmId, { provider: "gmail", body: push }, user);
  });
  const delayed =
    (handler: typeof fetch): typeof fetch =>
    async (input, init) => {
      await sleep(settings.latencyMs);
      return handler(input, init);
    };
  const bridges: HttpBridge[] = [
    await startHttpBridge(delayed(gmail.fetch), (path) =>
      path.startsWith("/token")
        ? "https://oauth2.googleapis.com/token"
        : `https://gmail.googleapis.com${path}`,
    ),
    await startHttpBridge(graph.fetch, (path) => `${graphBaseUrl}${path}`),
  ];

  // Firms, mailboxes and their mail.
  const settingsOf = { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" };
  const http: { firmId: string; mailboxId: string; address: string; kind: "gmail" | "graph" }[] = [];
  const imap: { firmId: string; mailboxId: string; user: string; password: string }[] = [];
  let clientMessages = 0;
  let sequence = 0;
  const clientOf = new Map<string, string>();
  const newFirm = async (index: number) => {
    const firm = await store.createFirm({
      name: `Firm ${index}`,
      internalDomains: [`f${index}.example`],
      deletionMode: "mirror",
    });
    const owner = await store.createMember(firm.id, {
      name: "Owner",
      email: `owner@f${index}.example`,
      role: "owner",
      newMailNotifications: "all",
      timeZone: "UTC",
    });
    const account = await store.createAccount(
      firm.id,
      { name: `Client ${index}`, kind: "business" },
      new Date(),
    );
    const contact = await store.createContact(firm.id, { firstName: "Client", lastName: `${index}` });
    const client = `client@c${index}.example`;
    await store.createLink(firm.id, {
      accountId: account.id,
      contactId: contact.id,
      email: client,
      login: false,
      notify: false,
      emailSync: true,
      signatory: false,
      notifyPreferences: defaultNotifyPreferences(),
    });
    clientOf.set(firm.id, client);
    return { firm, owner };
  };
  const mail = (from: string, to: string) => {
    sequence += 1;
    return {
      from,
      to,
      subject: `Note ${sequence}`,
      messageId: `<m${sequence}@scale.example>`,
      date: new Date(),
      text: `Body ${sequence}.`,
    };
  };
  const deliverHttp = (box: (typeof http)[number], fromClient: boolean) => {
    const message = mail(
      fromClient ? clientOf.get(box.firmId)! : `someone${sequence}@elsewhere.example`,
      box.address,
    );
    if (fromClient) clientMessages += 1;
    if (box.kind === "gmail") gmail.mailbox(box.address)!.addMessage({ raw: buildRawMessage(message) });
    else graph.mailbox(box.address).addMessage({ ...message, to: [message.to] });
    // As the store keeps it: without the angle brackets.
    return message.messageId.slice(1, -1);
  };

  const started = Date.now();
  const firmCount = Math.ceil(settings.httpMailboxes / settings.mailboxesPerFirm);
  for (let f = 0; f < firmCount; f += 1) {
    const { firm, owner } = await newFirm(f);
    for (let m = 0; m < settings.mailboxesPerFirm && http.length < settings.httpMailboxes; m += 1) {
      const kind = m % 2 === 0 ? "gmail" : "graph";
      const address = `u${m}@f${f}.example`;
      const mailbox = await store.createMailbox(
        firm.id,
        { provider: kind, address, displayName: address, ownerMemberId: owner.id, settings: settingsOf },
        new Date(),
      );
      let secret: ScaleCredentials;
      if (kind === "gmail") {
        gmail.addUser(address);
        secret = { kind, ...gmail.oauthClient, refreshToken: gmail.refreshTokenOf(address)! };
        firmOfAddress.set(address, firm.id);
      } else {
        graph.addMailbox(address);
        secret = { kind, accessToken: graph.accessTokenFor(address) };
      }
      await store.setMailboxCredentials(
        firm.id,
        mailbox.id,
        await keyring.encrypt(JSON.stringify(secret), {
          firmId: firm.id,
          recordId: mailbox.id,
          field: "credentials",
        }),
      );
      const box = { firmId: firm.id, mailboxId: mailbox.id, address, kind } as const;
      http.push(box);
      for (let n = 0; n < settings.messages; n += 1) deliverHttp(box, n % 3 === 0);
    }
  }
  if (dovecot && settings.dovecotMailboxes > 0) {
    const { firm, owner } = await newFirm(firmCount);
    for (let i = 0; i < settings.dovecotMailboxes; i += 1) {
      const login = await dovecot.addUser(`s${workers}u${i}`);
      const address = `${login.user}@f${firmCount}.example`;
      const mailbox = await store.createMailbox(
        firm.id,
        { provider: "imap", address, displayName: address, ownerMemberId: owner.id, settings: settingsOf },
        new Date(),
      );
      await store.setMailboxCredentials(
        firm.id,
        mailbox.id,
        await keyring.encrypt(JSON.stringify({ kind: "imap", user: login.user, password: login.password }), {
          firmId: firm.id,
          recordId: mailbox.id,
          field: "credentials",
        }),
      );
      imap.push({ firmId: firm.id, mailboxId: mailbox.id, ...login });
      const client = new ImapFlow({
        host: dovecot.host,
        port: dovecot.port,
        secure: false,
        auth: { user: login.user, pass: login.password },
        logger: false,
      });
      await client.connect();
      for (let n = 0; n < settings.messages; n += 1) {
        const fromClient = n % 3 === 0;
        if (fromClient) clientMessages += 1;
        const message = mail(
          fromClient ? clientOf.get(firm.id)! : `someone${sequence}@elsewhere.example`,
          address,
        );
        await client.append("INBOX", buildRawMessage(message));
      }
      await client.logout();
    }
  }
  const total = http.length + imap.length;
  const imapAppend = async (box: (typeof imap)[number], firmId: string) => {
    const client = new ImapFlow({
      host: dovecot!.host,
      port: dovecot!.port,
      secure: false,
      auth: { user: box.user, pass: box.password },
      logger: false,
    });
    await client.connect();
    const message = mail(clientOf.get(firmId)!, `${box.user}@x`);
    await client.append("INBOX", buildRawMessage(message));
    await client.logout();
    clientMessages += 1;
    return message.messageId.slice(1, -1);
  };
  console.log(
    `  [${workers} worker(s)] seeded ${total} mailboxes in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );

  // The workers.
  for (let i = 0; i < workers; i += 1)
    children.push(
      new WorkerProcess(bundle, {
        SCALE_DATABASE_URL: databaseUrl,
        SCALE_CONCURRENCY: String(settings.concurrency),
        SCALE_LEASE_TTL_MS: String(settings.leaseTtlMs),
        SCALE_POLL_MS: String(settings.pollMs),
        SCALE_KEY: key,
        SCALE_GMAIL_URL: bridges[0]!.url,
        SCALE_GRAPH_URL: bridges[1]!.url,
        SCALE_IMAP: dovecot ? `${dovecot.host}:${dovecot.port}` : "127.0.0.1:0",
      }),
    );
  await Promise.all(children.map((c) => c.wait("ready")));
  const count = async (sql: string, params: unknown[] = []) =>
    Number((await pool.query(sql, params)).rows[0].n);
  const t0 = Date.now();
  await Promise.all(
    children.map(async (c) => {
      const startedMessage = c.wait("started");
      c.send({ type: "start" });
      await startedMessage;
    }),
  );
  await until(
    async () =>
      (await count("SELECT count(*) AS n FROM mailboxes WHERE last_synced_at IS NOT NULL")) === total,
    "every backfill",
    60 * 60_000,
  );
  const backfillMs = Date.now() - t0;
  await until(
    async () => (await count("SELECT count(*) AS n FROM messages")) >= clientMessages,
    "the backfilled mail",
    120_000,
  );
  const round: Round = {
    workers,
    backfillMs,
    mailboxes: total,
    clientMessages: 0,
    lost: 0,
    deadLetters: 0,
    duplicateMessages: 0,
    duplicateNotifications: 0,
    memory: [],
  };

  if (last) {
    // Push registrations are jobs that follow the first pass; wait for them.
    await until(
      async () =>
        (await count("SELECT count(DISTINCT mailbox_id) AS n FROM push_registrations")) === http.length,
      "every push registration",
      10 * 60_000,
    );
    // Steady load: client mail at a fixed rate to random mailboxes, each announced by its provider's push.
    const delivered = new Map<string, { at: number; kind: "gmail" | "graph" | "imap" }>();
    const steadyEnd = Date.now() + settings.steadySeconds * 1000;
    let i = 0;
    while (Date.now() < steadyEnd) {
      i += 1;
      if (imap.length > 0 && i % 10 === 0) {
        const box = imap[i % imap.length]!;
        const at = Date.now();
        delivered.set(await imapAppend(box, box.firmId), { at, kind: "imap" });
      } else {
        const box = http[Math.floor(Math.random() * http.length)]!;
        delivered.set(deliverHttp(box, true), { at: Date.now(), kind: box.kind });
      }
      await sleep(1000 / settings.steadyPerSecond);
    }
    const ids = [...delivered.keys()];
    await until(
      async () =>
        (await count("SELECT count(*) AS n FROM messages WHERE message_id = ANY($1::text[])", [ids])) ===
        ids.length,
      "the steady load's mail",
      settings.pollMs + 60_000,
    );
    const rows = (
      await pool.query("SELECT message_id, filed_at FROM messages WHERE message_id = ANY($1::text[])", [ids])
    ).rows as {
      message_id: string;
      filed_at: Date;
    }[];
    const latencies = { gmail: [] as number[], graph: [] as number[], imap: [] as number[] };
    for (const row of rows) {
      const sent = delivered.get(row.message_id)!;
      latencies[sent.kind].push(row.filed_at.getTime() - sent.at);
    }
    round.steady = latencies;

    // Kill one worker mid-load: the mailboxes whose pass it was running must resume elsewhere.
    const victim = children[0]!;
    // The victim's memory as it was just before its death.
    await victim.reportMemory();
    const burstAt = Date.now();
    const burst: { id: string; box: (typeof http)[number] }[] = [];
    for (const box of [...http].sort(() => Math.random() - 0.5).slice(0, 60))
      burst.push({ id: deliverHttp(box, true), box });
    type Held = { firm_id: string; mailbox_id: string; token: string; lease_until: Date };
    let inFlight: Held[] = [];
    for (let tries = 0; tries < 40 && inFlight.length === 0; tries += 1) {
      await sleep(25);
      inFlight = (
        await pool.query(
          `SELECT firm_id, mailbox_id, token, lease_until FROM mailbox_sync
           WHERE holder LIKE $1 AND lease_until > clock_timestamp()`,
          [`${victim.holderPrefix}%`],
        )
      ).rows as Held[];
    }
    // The victim's queue pool: the one that claimed the keys of the passes it runs.
    const victimPools = (
      await pool.query(
        `SELECT DISTINCT c.pool_id FROM clientmail_job_keys c
         JOIN graphile_worker._private_jobs j ON j.id = c.job_id
         WHERE j.payload->'p'->>'mailboxId' = ANY($1::text[])`,
        [inFlight.map((r) => r.mailbox_id)],
      )
    ).rows.map((r: { pool_id: string }) => r.pool_id);
    const dbNow = async () =>
      ((await pool.query("SELECT clock_timestamp() AS t")).rows[0].t as Date).getTime();
    const killedAt = new Date();
    victim.child.kill("SIGKILL");
    // Database time of the kill, to read the leases against.
    const killedAtDb = await dbNow();
    const unansweredAtKill = new Set(victim.unanswered.keys());
    // The webhook requests the dead worker had not answered fail (its connections drop): Pub/Sub
    // and Graph deliver those notifications again, here at once, to a live worker.
    await until(async () => !victim.alive, "the killed worker's exit", 10_000);
    for (const push of victim.unanswered.values()) forward(push.firmId, push.notification, push.address);
    // Follow each in-flight mailbox: when another worker takes its lease (the pass resumes), when
    // that pass ends, and when the queue unlocked the dead worker's jobs.
    const follow = new Map(
      inFlight.map((r) => [
        r.mailbox_id,
        {
          leaseLeftMs: r.lease_until.getTime() - killedAtDb,
          token: Number(r.token),
          takenMs: undefined as number | undefined,
          doneMs: undefined as number | undefined,
        },
      ]),
    );
    let unlockedMs: number | undefined;
    let resumeMs: number | undefined;
    let resumeDoneMs: number | undefined;
    if (inFlight.length > 0) {
      const deadline = Date.now() + settings.leaseTtlMs * 4 + 60_000;
      while (Date.now() < deadline) {
        const at = (await dbNow()) - killedAtDb;
        const rows = (
          await pool.query(
            `SELECT s.mailbox_id, s.token, m.last_synced_at FROM mailbox_sync s
             JOIN mailboxes m ON m.firm_id = s.firm_id AND m.id = s.mailbox_id WHERE s.mailbox_id = ANY($1::text[])`,
            [[...follow.keys()]],
          )
        ).rows as { mailbox_id: string; token: string; last_synced_at: Date | null }[];
        for (const row of rows) {
          const entry = follow.get(row.mailbox_id)!;
          if (entry.takenMs === undefined && Number(row.token) > entry.token) entry.takenMs = at;
          if (
            entry.doneMs === undefined &&
            row.last_synced_at &&
            row.last_synced_at.getTime() > killedAt.getTime()
          )
            entry.doneMs = at;
        }
        if (
          unlockedMs === undefined &&
          (await count(
            "SELECT count(*) AS n FROM graphile_worker._private_jobs WHERE locked_by = ANY($1::text[])",
            [victimPools],
          )) === 0
        )
          unlockedMs = at;
        if ([...follow.values()].every((e) => e.doneMs !== undefined) && unlockedMs !== undefined) break;
        await sleep(50);
      }
      const entries = [...follow.values()];
      if (entries.every((e) => e.takenMs !== undefined))
        resumeMs = Math.max(...entries.map((e) => e.takenMs!));
      if (entries.every((e) => e.doneMs !== undefined))
        resumeDoneMs = Math.max(...entries.map((e) => e.doneMs!));
      const s1 = (ms: number | undefined) => (ms === undefined ? "never" : `${(ms / 1000).toFixed(2)} s`);
      console.log(`  killed worker: its queue pool's jobs unlocked after ${s1(unlockedMs)} (database clock)`);
      for (const [mailboxId, e] of follow)
        console.log(
          `  mailbox ${mailboxId}: lease left at the kill ${s1(e.leaseLeftMs)}; taken by another worker after ${s1(e.takenMs)}` +
            (e.takenMs !== undefined
              ? ` (${e.takenMs >= e.leaseLeftMs ? `${s1(e.takenMs - e.leaseLeftMs)} after the lease expired` : "before the lease expired"})`
              : "") +
            `; its pass ended after ${s1(e.doneMs)}`,
        );
    }
    // Messages of the burst not filed by three leases after the kill: say why.
    const unfiled = async () => {
      const filedIds = new Set(
        (
          await pool.query("SELECT message_id FROM messages WHERE message_id = ANY($1::text[])", [
            burst.map((b) => b.id),
          ])
        ).rows.map((r: { message_id: string }) => r.message_id),
      );
      return burst.filter((b) => !filedIds.has(b.id));
    };
    await until(
      async () => (await unfiled()).length === 0,
      "the burst's mail",
      Math.max(0, killedAt.getTime() + 3 * settings.leaseTtlMs - Date.now()),
    ).catch(() => undefined);
    const late = await unfiled();
    if (late.length > 0) {
      const subscriptionsOf = new Map<string, string>(
        (await pool.query("SELECT subscription_id, mailbox_id FROM push_registrations")).rows.map(
          (r: { subscription_id: string; mailbox_id: string }) => [r.subscription_id, r.mailbox_id],
        ),
      );
      console.log(
        `  ${late.length} message(s) of the burst not filed ${(3 * settings.leaseTtlMs) / 1000} s after the kill:`,
      );
      for (const { box } of late) {
        const pushes = pushLog.filter(
          (p) =>
            p.at >= burstAt &&
            (p.address === box.address ||
              (p.subscriptions ?? []).some((id) => subscriptionsOf.get(id) === box.mailboxId)),
        );
        const jobs = (
          await pool.query(
            `SELECT id, key, run_at, attempts, max_attempts, locked_by, last_error FROM graphile_worker._private_jobs
             WHERE payload->'p'->>'mailboxId' = $1`,
            [box.mailboxId],
          )
        ).rows;
        console.log(
          `   ${box.kind} ${box.mailboxId}: ${follow.has(box.mailboxId) ? "in flight on the victim; " : ""}pushes ` +
            (pushes.length === 0
              ? "none (dropped by the provider)"
              : pushes
                  .map(
                    (p) =>
                      `${p.child === victim ? "to the victim" : "to a survivor"} ${p.at - killedAt.getTime()} ms from the kill` +
                      (p.child === victim
                        ? unansweredAtKill.has(p.id)
                          ? ", unanswered at the kill"
                          : ", answered"
                        : ""),
                  )
                  .join("; ")),
          JSON.stringify(jobs),
        );
      }
    }
    await until(async () => (await unfiled()).length === 0, "the burst's mail", settings.pollMs + 60_000);
    round.kill = {
      inFlight: inFlight.length,
      resumeMs,
      resumeDoneMs,
      unlockedMs,
      unansweredPushes: unansweredAtKill.size,
      burstFiledMs: Date.now() - killedAt.getTime(),
    };
  }

  // What was lost or done twice.
  await sleep(1000);
  round.clientMessages = clientMessages;
  const filed = await count("SELECT count(*) AS n FROM messages");
  round.lost = Math.max(0, clientMessages - filed);
  round.deadLetters = await count(
    "SELECT count(*) AS n FROM graphile_worker._private_jobs WHERE attempts >= max_attempts AND last_error IS NOT NULL",
  );
  round.duplicateMessages = await count(
    "SELECT count(*) AS n FROM (SELECT message_id FROM messages GROUP BY firm_id, message_id HAVING count(*) > 1) d",
  );
  round.duplicateNotifications = await count(
    "SELECT count(*) AS n FROM (SELECT 1 FROM notifications GROUP BY firm_id, member_id, payload HAVING count(*) > 1) d",
  );
  // SCALE_HEAP_SNAPSHOT=1: each live worker writes its heap to the temporary folder first.
  if (process.env.SCALE_HEAP_SNAPSHOT) for (const c of children) await c.reportMemory(true);
  await Promise.all(children.map((c) => c.stop()));
  round.memory = children.flatMap((c) => (c.memory ? [c.memory] : []));
  for (const bridge of bridges) await bridge.close();
  await pool.end();
  return round;
}

// ------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  const cores = availableParallelism();
  const postgres = await startPostgres({ durable: true });
  const serverUrl = postgres.env.CLIENTMAIL_TEST_DATABASE_URL;
  let dovecot: DovecotServer | undefined;
  if (settings.dovecotMailboxes > 0) {
    const availability = dovecotAvailability();
    if (availability.available) dovecot = await startDovecot();
    else console.log(`Dovecot unavailable (${availability.reason}): IMAP mailboxes skipped`);
  }
  const bundle = await workerBundle();
  console.log(
    `scale benchmark on ${cores} CPU core(s) (${cpus()[0]?.model ?? "?"}): ${settings.httpMailboxes} HTTP mailboxes ` +
      `(half Gmail, half Graph; ${settings.latencyMs} ms per request, Gmail's per-user quota and Graph's 4 concurrent requests enforced) ` +
      `+ ${dovecot ? settings.dovecotMailboxes : 0} Dovecot; ${settings.messages} messages each (a third client mail); ` +
      `${settings.mailboxesPerFirm} mailboxes per firm; ${settings.concurrency} jobs per worker; lease TTL ${settings.leaseTtlMs / 1000} s`,
  );
  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(", ")} (other processes share the cores)`,
  );
  const rounds: Round[] = [];
  try {
    for (const [index, workers] of settings.workerCounts.entries()) {
      const last = index === settings.workerCounts.length - 1;
      const round = await runRound(serverUrl, dovecot, bundle, workers, last);
      rounds.push(round);
      // Printed as each round ends, so a run cut short still reports what it measured.
      console.log(
        `  [${workers} worker(s)] every backfill done in ${(round.backfillMs / 1000).toFixed(1)} s`,
      );
    }
  } finally {
    await dovecot?.stop();
    await postgres.stop();
    await rm(bundle, { force: true });
  }

  console.log(
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(", ")}`,
  );
  const base = rounds[0]!;
  console.log("\nworkers  every backfill done  mailboxes/s  growth vs first");
  for (const round of rounds)
    console.log(
      `${String(round.workers).padEnd(8)} ${(round.backfillMs / 1000).toFixed(1).padStart(10)} s` +
        `${(round.mailboxes / (round.backfillMs / 1000)).toFixed(1).padStart(15)}` +
        `${(base.backfillMs / round.backfillMs).toFixed(2).padStart(14)}×`,
    );
  console.log(
    `(growth is bounded by the ${cores} core(s) the workers share with PostgreSQL, the fakes and Dovecot)`,
  );
  const last = rounds.at(-1)!;
  if (last.steady) {
    const all = [...last.steady.gmail, ...last.steady.graph, ...last.steady.imap];
    const line = (values: number[]) =>
      `p50 ${percentile(values, 50).toFixed(0)} ms, p99 ${percentile(values, 99).toFixed(0)} ms (n=${values.length})`;
    console.log(
      `\npush → message.filed, ${last.workers} workers, ${settings.steadyPerSecond}/s for ${settings.steadySeconds} s: ` +
        `all ${line(all)}; Gmail Pub/Sub ${line(last.steady.gmail)}; Graph notifications ${line(last.steady.graph)}` +
        (last.steady.imap.length > 0 ? `; IMAP IDLE ${line(last.steady.imap)}` : ""),
    );
  }
  if (last.kill) {
    const { inFlight, resumeMs, resumeDoneMs, unlockedMs, unansweredPushes, burstFiledMs } = last.kill;
    const s1 = (ms: number | undefined) => (ms === undefined ? "never" : `${(ms / 1000).toFixed(1)} s`);
    console.log(
      `killed worker (SIGKILL mid-load): ${inFlight} mailbox(es) had a pass in flight on it; ` +
        (inFlight === 0
          ? "none to resume"
          : `all taken over elsewhere after ${s1(resumeMs)} and their passes done after ${s1(resumeDoneMs)} ` +
            `(lease TTL ${settings.leaseTtlMs / 1000} s; its jobs unlocked after ${s1(unlockedMs)})`) +
        `; ${unansweredPushes} push(es) it had not answered; the burst of 60 pushed messages all filed ${s1(burstFiledMs)} after the kill`,
    );
  }
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  for (const round of rounds)
    for (const [i, m] of round.memory.entries())
      console.log(
        `${round.workers} worker(s), process ${i + 1}: peak RSS ${mib(m.rss)}, heap used ${mib(m.heapUsed)}, ` +
          `external ${mib(m.external)} (array buffers ${mib(m.arrayBuffers)}); providers open at most ${m.openProviders}`,
      );
  for (const round of rounds)
    console.log(
      `${round.workers} worker(s): client messages ${round.clientMessages}, jobs lost ${round.lost + round.deadLetters} ` +
        `(unfiled ${round.lost}, dead letters ${round.deadLetters}); done twice with a visible effect ` +
        `${round.duplicateMessages + round.duplicateNotifications} (duplicate messages ${round.duplicateMessages}, ` +
        `duplicate notifications ${round.duplicateNotifications})`,
    );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
