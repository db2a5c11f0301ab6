/**
 * The parent side of the fault suite: real servers from the test run (PostgreSQL, Dovecot), the
 * corpus loaded into Dovecot users, one end-to-end firm per trial — each in a database of its own
 * (the job queue's tables are per database), copied from a template migrated once per file —
 * worker child processes started, killed and restarted until the firm is in sync (every mailbox
 * completed a pass and the queue is idle), and the digest of the result.
 *
 * How much each case runs is set by `CLIENTMAIL_FAULT_TRIALS`: unset, a CI-sized sample (part of
 * `pnpm test`); `full`, the whole suite (`pnpm test:faults`); a number, the whole suite with that
 * many random kill -9 trials.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";
import { ImapFlow } from "imapflow";
import pg from "pg";
import { createClientMail, type ClientMail, type ProviderKind } from "@clientmail/core";
import type { JobQueue, Store } from "@clientmail/core/ports";
import { createImapProvider } from "@clientmail/imap";
import { createPostgresJobQueue, createPostgresStore, installJobQueue, migrate } from "@clientmail/postgres";
import {
  attachDovecot,
  createEndToEndFirm,
  dovecotAvailability,
  FolderDocumentSink,
  loopbackHostPolicy,
  type DovecotInfo,
  type DovecotServer,
  type DovecotUser,
} from "@clientmail/testkit";
import { firmDomain, staffAddresses, staffLabels, tagOf, type Corpus, type StaffLabel } from "./corpus.js";
import { databaseFromTemplate, dropDatabase, freshDatabase } from "../support/postgres.js";
import { digestFirm, type FaultDigest } from "./digest.js";
import { workerBundle } from "./worker-bundle.js";
import {
  pointKinds,
  workerConfigVariable,
  type Point,
  type PointKind,
  type WorkerConfig,
  type WorkerLine,
} from "./worker-protocol.js";

// ---------------------------------------------------------------------------------------------
// How much to run
// ---------------------------------------------------------------------------------------------

const trialsSetting = process.env.CLIENTMAIL_FAULT_TRIALS?.trim() ?? "";

/**
 * True for the full suite (`pnpm test:faults`, or `CLIENTMAIL_FAULT_TRIALS` set at all), false for
 * the sample inside `pnpm test`.
 */
export const fullRun = trialsSetting !== "";

/** The sample's value or the full run's. */
export function scale<T>(sample: T, full: T): T {
  return fullRun ? full : sample;
}

/**
 * Random kill -9 trials: 1 in the sample (next to the targeted ones), 30 in the full run, or the
 * number given.
 */
export const crashTrials = /^\d+$/.test(trialsSetting) ? Number(trialsSetting) : scale(1, 30);

/** Prints a case's summary line, and appends it to `CLIENTMAIL_FAULT_REPORT` when that names a file. */
export function publish(line: string): void {
  console.log(line);
  const file = process.env.CLIENTMAIL_FAULT_REPORT;
  if (file) appendFileSync(file, `${line}\n`);
}

/**
 * R3 deadlines the suite configures, in one place: the engine's pass deadline
 * (`WorkerSettings.passDeadlineMs`) and the IMAP provider's deadlines per operation
 * (`connectionTimeoutMs`, `socketTimeoutMs`, and `commandTimeoutMs`, the per-command deadline the
 * provider work in progress adds; a provider without it ignores the key).
 */
export const deadlines = {
  /** Per provider operation (IMAP command, connect, socket inactivity). */
  operationMs: 2_000,
  /** One sync pass. */
  passMs: 8_000,
};

/** Provider and engine settings that carry {@link deadlines}. */
export function deadlineSettings(): {
  imap: Record<string, unknown>;
  engine: Record<string, unknown>;
  leaseTtlMs: number;
} {
  return {
    // Longer than a stalled operation: a lease that lapses while the pass waits out a silent
    // server would end the pass as lease_lost, which is not what these cases are about. No
    // longer than needed: a worker killed as hung keeps the next one out until it lapses.
    leaseTtlMs: deadlines.passMs + deadlines.operationMs,
    imap: {
      connectionTimeoutMs: deadlines.operationMs,
      socketTimeoutMs: deadlines.operationMs,
      commandTimeoutMs: deadlines.operationMs,
    },
    engine: { passDeadlineMs: deadlines.passMs },
  };
}

// ---------------------------------------------------------------------------------------------
// The suite's servers
// ---------------------------------------------------------------------------------------------

/** Why the Dovecot-backed cases cannot run here (undefined: they can). */
export function dovecotSkipReason(): string | undefined {
  const reason = process.env.CLIENTMAIL_TEST_DOVECOT_SKIP;
  if (reason) return reason;
  if (process.env.CLIENTMAIL_TEST_DOVECOT) return undefined;
  const availability = dovecotAvailability();
  return availability.available
    ? "no Dovecot from the global setup: run with pnpm test"
    : availability.reason;
}

/** A corpus in a Dovecot server: one login per firm mailbox. */
export interface LoadedCorpus {
  corpus: Corpus;
  server: { host: string; port: number };
  logins: Record<StaffLabel, DovecotUser>;
  /** Tag of each copy, by login and provider id (built on first use). */
  copyTags?: Map<string, Map<string, string>> | undefined;
}

/**
 * One end-to-end firm (see the testkit's `createEndToEndFirm`), created for one trial in a
 * database of its own, with the facade wired to the job queue as a host would.
 */
export interface FaultFirm {
  firmId: string;
  /** The firm's database: its store and its job queue. */
  databaseUrl: string;
  pool: pg.Pool;
  store: Store;
  queue: JobQueue;
  /** The blob store's folder, shared by the trial's worker processes. */
  blobsDir: string;
  cm: ClientMail;
  mailboxIds: Record<StaffLabel, string>;
  accounts: Map<string, string>;
  members: Map<string, string>;
  mailboxes: Map<string, StaffLabel>;
  /** Petra's link (Acme), the one a case turns email sync off for. */
  petraLinkId: string;
  /** Sam's link (Jordan family), whose email sync is off until a case turns it on. */
  samLinkId: string;
  documents: FolderDocumentSink;
  /** Removes the firm's database, documents and blobs. */
  dispose(): Promise<void>;
}

/** Options of one worker process. */
export interface WorkerOptions {
  /** Where the worker reaches IMAP (a proxy); default the corpus's server. */
  target?: { host: string; port: number } | undefined;
  crash?: Point | undefined;
  pause?: Point | undefined;
  mode?: WorkerConfig["mode"];
  /** Beyond this the worker is killed and counted as hung. Default 120 s. */
  timeoutMs?: number | undefined;
  onLine?: ((line: WorkerLine) => void) | undefined;
  imap?: Record<string, unknown> | undefined;
  engine?: Record<string, unknown> | undefined;
  /** See {@link WorkerConfig.jitterScale}. Default 0.25. */
  jitterScale?: number | undefined;
  /** Default 6 s. */
  leaseTtlMs?: number | undefined;
  /** See {@link WorkerConfig.lockTimeoutMs}. Default 2 s. */
  lockTimeoutMs?: number | undefined;
  /** Jobs at once. Default 4. */
  concurrency?: number | undefined;
  maxConsecutiveFailures?: number | undefined;
  /** Seed of the engine's jitter. Default 1. */
  seed?: number | undefined;
  /** See {@link WorkerConfig.refuseTags}. */
  refuseTags?: string[] | undefined;
  /** See {@link WorkerConfig.clockSkewMs}. */
  clockSkewMs?: number | undefined;
  reportPoints?: boolean | undefined;
  /** See {@link WorkerConfig.toggle}. */
  toggle?: WorkerConfig["toggle"];
  /** See {@link WorkerConfig.http}: the mailboxes are on a Gmail or Graph fake (no corpus in Dovecot). */
  http?: WorkerConfig["http"];
  /** See {@link WorkerConfig.invitations}. */
  invitations?: WorkerConfig["invitations"];
}

/** How a worker process ended. */
export interface WorkerResult {
  /**
   * `synced`: every mailbox completed a pass and the queue was idle; `killed`: it killed itself at
   * its crash point;
   * `hung`: it ran past its time limit; `stopped`: the engine stopped a mailbox; `failed`: it died
   * of an error.
   */
  exit: "synced" | "killed" | "hung" | "stopped" | "failed";
  ms: number;
  passes: Array<Extract<WorkerLine, { t: "pass" }>>;
  states: Array<{ mailbox: string; status: string }>;
  counts: Record<PointKind, number> | undefined;
  /** Jobs this worker ran to the end, by name. */
  jobs: Record<string, number>;
  crashedAt: Point | undefined;
  fatal: string | undefined;
  /** True once the worker began closing its providers (every pass had ended). */
  closing: boolean;
  stderrTail: string;
}

export interface WorkerHandle {
  done: Promise<WorkerResult>;
  /** Ends a pause (see {@link WorkerOptions.pause}). */
  resume(): void;
  kill(): void;
}

/** The outcome of a trial: workers started (and killed) until the firm was in sync, or not. */
export interface TrialOutcome {
  synced: boolean;
  /** A worker ran past its time limit, or a mailbox was stopped or never got in sync. */
  hung: boolean;
  runs: WorkerResult[];
  crashes: number;
  ms: number;
}

export class FaultSuite {
  private constructor(
    /** A database migrated with the store's schema and the job queue: every firm's starts as a copy. */
    private readonly template: string,
    private readonly server: DovecotServer | undefined,
    private readonly worker: string | undefined,
  ) {}

  /**
   * Prepares the file's template database and, unless `imap: false` (cases on the HTTP providers'
   * fakes), attaches the run's Dovecot and builds the worker.
   */
  static async open(options: { imap?: boolean; worker?: boolean } = {}): Promise<FaultSuite> {
    const template = await freshDatabase("fault_tpl");
    const pool = new pg.Pool({ connectionString: template, max: 2 });
    try {
      await migrate(pool);
      await installJobQueue(pool);
    } finally {
      await pool.end();
    }
    if (options.imap === false)
      return new FaultSuite(template, undefined, options.worker ? await workerBundle() : undefined);
    const info = process.env.CLIENTMAIL_TEST_DOVECOT;
    if (!info) throw new Error("CLIENTMAIL_TEST_DOVECOT is not set: run the fault suite with pnpm test");
    const dovecot = attachDovecot(JSON.parse(info) as DovecotInfo);
    return new FaultSuite(template, dovecot, await workerBundle());
  }

  /** The run's shared Dovecot. */
  get dovecot(): DovecotServer {
    if (!this.server) throw new Error("this fault suite was opened without IMAP");
    return this.server;
  }

  get workerPath(): string {
    if (!this.worker) throw new Error("this fault suite was opened without IMAP or a worker");
    return this.worker;
  }

  async close(): Promise<void> {
    await dropDatabase(this.template);
  }

  /**
   * The base corpus in the run's shared Dovecot, loaded once per test run and shared by the test
   * files (they run in parallel processes: the first loads it, the others wait for it), with the
   * digest and point counts of a fault-free run, which every case compares with.
   */
  async sharedBaseCorpus(
    generate: () => Corpus,
  ): Promise<{ loaded: LoadedCorpus; baseline: FaultDigest; counts: Record<PointKind, number> }> {
    const corpus = generate();
    const dir = join(tmpdir(), "clientmail-fault-cache", basename(this.dovecot.info.rootDir));
    const file = join(dir, `${corpus.name}-${corpus.messages.length}-${corpus.totalBytes}.json`);
    type Shared = {
      logins: LoadedCorpus["logins"];
      baseline: FaultDigest;
      counts: Record<PointKind, number>;
    };
    await mkdir(dir, { recursive: true });
    const lock = `${file}.lock`;
    let mine = false;
    try {
      await mkdir(lock);
      mine = true;
    } catch {
      // Another file is loading it.
    }
    if (mine) {
      try {
        const loaded = await this.loadCorpus(corpus);
        const firm = await this.createFirm();
        const outcome = await this.runTrial(firm, loaded);
        const counts = outcome.runs[0]?.counts;
        if (!outcome.synced || !counts)
          throw new Error(`the fault-free run failed: ${describeTrial(outcome)}`);
        const baseline = await this.digest(firm, loaded);
        await firm.dispose();
        const shared: Shared = { logins: loaded.logins, baseline, counts };
        await writeFile(`${file}.tmp`, JSON.stringify(shared));
        await rename(`${file}.tmp`, file);
        return { loaded, baseline, counts };
      } catch (error) {
        await writeFile(`${file}.error`, String(error));
        throw error;
      }
    }
    const deadline = Date.now() + 180_000;
    while (!existsSync(file)) {
      if (existsSync(`${file}.error`))
        throw new Error(
          `another test file failed to load the corpus: ${await readFile(`${file}.error`, "utf8")}`,
        );
      if (Date.now() > deadline) throw new Error(`timed out waiting for another test file to load ${file}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const shared = JSON.parse(await readFile(file, "utf8")) as Shared;
    return {
      loaded: { corpus, server: { host: this.dovecot.host, port: this.dovecot.port }, logins: shared.logins },
      baseline: shared.baseline,
      counts: shared.counts,
    };
  }

  /** Adds one login per firm mailbox to `server` and appends every copy, in arrival order. */
  async loadCorpus(corpus: Corpus, server: DovecotServer = this.dovecot): Promise<LoadedCorpus> {
    const run = randomBytes(4).toString("hex");
    const logins = {} as Record<StaffLabel, DovecotUser>;
    const clients = {} as Record<StaffLabel, ImapFlow>;
    for (const label of staffLabels) {
      logins[label] = await server.addUser(`${label}-${corpus.name}-${run}@${firmDomain}`);
      const client = new ImapFlow({
        host: server.host,
        port: server.port,
        secure: false,
        doSTARTTLS: false,
        auth: { user: logins[label].user, pass: logins[label].password },
        logger: false,
      });
      client.on("error", () => undefined);
      await client.connect();
      clients[label] = client;
    }
    try {
      for (const message of corpus.messages)
        for (const copy of message.copies) {
          const appended = await clients[copy.mailbox].append(copy.folder, message.raw, [], message.date);
          if (!appended)
            throw new Error(`Dovecot refused ${message.tag} (${message.hostility ?? message.kind})`);
        }
    } finally {
      for (const client of Object.values(clients)) await client.logout().catch(() => client.close());
    }
    return { corpus, server: { host: server.host, port: server.port }, logins };
  }

  /**
   * A fresh end-to-end firm (its mailboxes are the corpus's logins, for IMAP) in a database of its
   * own, created through the facade with the job queue.
   */
  async createFirm(provider: ProviderKind = "imap"): Promise<FaultFirm> {
    const token = randomBytes(4).toString("hex");
    const databaseUrl = await databaseFromTemplate(this.template, "fault");
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 6 });
    pool.on("error", () => undefined);
    const store = createPostgresStore({ pool });
    const queue = createPostgresJobQueue({ pool, store });
    const cm = createClientMail({ store, queue });
    const firm = await createEndToEndFirm(cm, {
      provider,
      token,
      addresses: { domain: firmDomain, ...staffAddresses },
    });
    const linkOf = (links: ReadonlyArray<{ id: string; email: string }>, email: string) => {
      const link = links.find((l) => l.email === email);
      if (!link) throw new Error(`the end-to-end firm has no link for ${email}`);
      return link.id;
    };
    const documents = await FolderDocumentSink.create("clientmail-fault-docs-");
    const blobsDir = await mkdtemp(join(tmpdir(), "clientmail-fault-blobs-"));
    return {
      firmId: firm.firm.id,
      databaseUrl,
      pool,
      store,
      queue,
      blobsDir,
      cm,
      mailboxIds: { ann: firm.annBox.id, bob: firm.bobBox.id, support: firm.supportBox.id },
      accounts: new Map([firm.family, firm.bakery, firm.acme].map((a) => [a.account.id, a.account.name])),
      members: new Map([firm.annMember, firm.bobMember].map((m) => [m.id, m.name])),
      mailboxes: new Map<string, StaffLabel>([
        [firm.annBox.id, "ann"],
        [firm.bobBox.id, "bob"],
        [firm.supportBox.id, "support"],
      ]),
      petraLinkId: linkOf(firm.acme.links, "petra@acme.example"),
      samLinkId: linkOf(firm.family.links, "sam@home.example"),
      documents,
      dispose: async () => {
        await queue.close();
        await pool.end();
        await dropDatabase(databaseUrl);
        await documents.remove();
        await rm(blobsDir, { recursive: true, force: true });
      },
    };
  }

  /** Starts a worker process for the firm. */
  startWorker(firm: FaultFirm, loaded: LoadedCorpus | undefined, options: WorkerOptions = {}): WorkerHandle {
    const target = options.target ?? loaded?.server ?? { host: "127.0.0.1", port: 0 };
    const config: WorkerConfig = {
      databaseUrl: firm.databaseUrl,
      firmId: firm.firmId,
      mailboxes: staffLabels.map((label) => ({
        id: firm.mailboxIds[label],
        label,
        host: target.host,
        port: target.port,
        user: loaded?.logins[label].user ?? "",
        password: loaded?.logins[label].password ?? "",
      })),
      docsDir: firm.documents.dir,
      blobsDir: firm.blobsDir,
      crash: options.crash,
      pause: options.pause,
      mode: options.mode ?? "until-synced",
      // Short, so a killed worker keeps the next one out only briefly; long enough that a page of
      // large messages on a loaded machine, with the other mailboxes' jobs beside it, is written
      // before the lease must be renewed (it is renewed between pages).
      leaseTtlMs: options.leaseTtlMs ?? 6_000,
      lockTimeoutMs: options.lockTimeoutMs ?? 2_000,
      concurrency: options.concurrency ?? 4,
      jitterScale: options.jitterScale ?? 0.25,
      maxConsecutiveFailures: options.maxConsecutiveFailures,
      seed: options.seed ?? 1,
      refuseTags: options.refuseTags,
      clockSkewMs: options.clockSkewMs,
      imap: options.imap ?? {},
      engine: options.engine ?? {},
      reportPoints: options.reportPoints ?? options.onLine !== undefined,
      toggle: options.toggle,
      http: options.http,
      invitations: options.invitations,
    };
    const started = Date.now();
    const child = spawn(process.execPath, [this.workerPath], {
      env: { ...process.env, [workerConfigVariable]: JSON.stringify(config) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const result: WorkerResult = {
      exit: "failed",
      ms: 0,
      passes: [],
      states: [],
      counts: undefined,
      jobs: {},
      crashedAt: undefined,
      fatal: undefined,
      closing: false,
      stderrTail: "",
    };
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill("SIGKILL");
    }, options.timeoutMs ?? 120_000);
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (text) => {
      let line: WorkerLine;
      try {
        line = JSON.parse(text) as WorkerLine;
      } catch {
        return;
      }
      if (line.t === "pass") result.passes.push(line);
      else if (line.t === "state") result.states.push({ mailbox: line.mailbox, status: line.status });
      else if (line.t === "done") {
        result.counts = line.counts;
        result.jobs = line.jobs;
      } else if (line.t === "crash") result.crashedAt = { kind: line.kind, n: line.n };
      else if (line.t === "fatal") result.fatal = `${line.code}: ${line.message}`;
      else if (line.t === "closing") result.closing = true;
      options.onLine?.(line);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      result.stderrTail = (result.stderrTail + chunk.toString("utf8")).slice(-4_000);
      // CLIENTMAIL_FAULT_DEBUG=1: the workers' warnings on the test run's output.
      if (process.env.CLIENTMAIL_FAULT_DEBUG) process.stderr.write(chunk);
    });
    child.stdin.on("error", () => undefined);
    const done = new Promise<WorkerResult>((resolve) => {
      let closed = 0;
      const finish = () => {
        if (++closed < 2) return;
        clearTimeout(timer);
        result.ms = Date.now() - started;
        resolve(result);
      };
      lines.once("close", finish);
      child.once("exit", (code, signal) => {
        if (hung) result.exit = "hung";
        else if (signal === "SIGKILL" && result.crashedAt) result.exit = "killed";
        else if (code === 0) result.exit = "synced";
        else if (code === 3) result.exit = "stopped";
        else result.exit = "failed";
        finish();
      });
    });
    return {
      done,
      resume: () => child.stdin.write("resume\n"),
      kill: () => child.kill("SIGKILL"),
    };
  }

  /**
   * A trial: one worker per crash point (each kills itself there, if it gets that far), then
   * clean workers until the firm is in sync — as a supervisor restarting a crashed worker would.
   * A worker past its time limit, or a mailbox the engine stopped, ends the trial as hung.
   */
  async runTrial(
    firm: FaultFirm,
    loaded: LoadedCorpus | undefined,
    options: WorkerOptions & { crashes?: readonly Point[]; cleanRuns?: number } = {},
  ): Promise<TrialOutcome> {
    const started = Date.now();
    const runs: WorkerResult[] = [];
    let crashes = 0;
    // The toggle is the first worker's alone (a host's request, made once).
    const start = (crash: Point | undefined) =>
      this.startWorker(firm, loaded, {
        ...options,
        crash,
        toggle: runs.length === 0 ? options.toggle : undefined,
      }).done;
    for (const crash of options.crashes ?? []) {
      const run = await start(crash);
      runs.push(run);
      if (run.exit === "killed") crashes += 1;
      if (run.exit !== "killed") break;
    }
    const cleanRuns = options.cleanRuns ?? 2;
    for (let i = 0; i < cleanRuns; i++) {
      const last = runs[runs.length - 1];
      if (last && (last.exit === "synced" || last.exit === "hung" || last.exit === "stopped")) break;
      runs.push(await start(undefined));
    }
    const last = runs[runs.length - 1];
    const synced = last?.exit === "synced";
    return { synced, hung: !synced, runs, crashes, ms: Date.now() - started };
  }

  /** The firm's digest (see `digest.ts`). */
  async digest(firm: FaultFirm, loaded: LoadedCorpus): Promise<FaultDigest> {
    return digestFirm({
      store: firm.store,
      queue: firm.queue,
      firmId: firm.firmId,
      accounts: firm.accounts,
      members: firm.members,
      mailboxes: firm.mailboxes,
      documents: firm.documents,
      identityOfCopy: async (mailboxId, providerId) => {
        const label = firm.mailboxes.get(mailboxId);
        if (!label) return undefined;
        return (await copyTags(loaded, label)).get(providerId);
      },
    });
  }
}

/** The tag of every copy in a login's folders, by provider id, read once with the IMAP provider. */
async function copyTags(loaded: LoadedCorpus, label: StaffLabel): Promise<Map<string, string>> {
  loaded.copyTags ??= new Map();
  const known = loaded.copyTags.get(label);
  if (known) return known;
  const login = loaded.logins[label];
  const provider = createImapProvider({
    host: loaded.server.host,
    port: loaded.server.port,
    security: "none",
    user: login.user,
    password: login.password,
    hostPolicy: loopbackHostPolicy,
  });
  const tags = new Map<string, string>();
  try {
    for await (const page of provider.changes(undefined)) {
      for (const envelope of page.added) {
        const tag = tagOf(envelope.subject) ?? tagOf(envelope.messageId ?? "");
        if (tag) tags.set(envelope.providerId, tag);
      }
      if (page.done) break;
    }
  } finally {
    await provider.close();
  }
  loaded.copyTags.set(label, tags);
  return tags;
}

/** A short description of how a trial's workers ended, for failure messages. */
export function describeTrial(outcome: TrialOutcome): string {
  return outcome.runs
    .map((run, i) => {
      const passes = run.passes
        .map((p) => `${p.mailbox}:${p.outcome}${p.code ? `(${p.code})` : ""}`)
        .join(" ");
      const crash = run.crashedAt ? ` killed@${run.crashedAt.kind}:${run.crashedAt.n}` : "";
      const fatal = run.fatal ? ` fatal=${run.fatal}` : "";
      const closing = run.exit === "hung" && run.closing ? " (hung closing its providers)" : "";
      return `#${i + 1} ${run.exit}${closing}${crash} ${(run.ms / 1000).toFixed(1)}s [${passes}]${fatal}`;
    })
    .join("; ");
}

/** Seeded choice of crash points, within what a fault-free run reaches (its counts). */
export function crashPlan(
  seed: number,
  counts: Record<PointKind, number>,
  kinds: readonly PointKind[] = pointKinds,
): Point[] {
  let state = (seed * 2654435761) >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const reachable = kinds.filter((kind) => counts[kind] > 0);
  if (reachable.length === 0) return [];
  const roll = random();
  const howMany = roll < 0.6 ? 1 : roll < 0.9 ? 2 : 3;
  const plan: Point[] = [];
  for (let i = 0; i < howMany; i++) {
    const kind = reachable[Math.floor(random() * reachable.length)]!;
    // Later workers have less left to do: aim them at the first half.
    const range = i === 0 ? counts[kind] : Math.max(1, Math.floor(counts[kind] / 2));
    plan.push({ kind, n: 1 + Math.floor(random() * range) });
  }
  return plan;
}
