/**
 * The sync phase of a benchmark, in a process of its own (R7): the parent prepares the mailbox,
 * the database and the firm, then runs this script as a child, so the peak memory it reports is
 * the sync's own — the production engine (`SyncService` over the PostgreSQL store and the IMAP
 * provider), and, when documents are on, the job-queue worker saving attachments through the
 * folder BlobStore to a folder document sink — not the fixture generator's or the baselines'.
 *
 * The child reads its settings from `CLIENTMAIL_SYNC_PHASE` (JSON, see {@link SyncPhaseSettings})
 * and prints one line `SYNC_PHASE <json>` (see {@link SyncPhaseResult}).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { EventEmitter } from "eventemitter3";
import pg from "pg";
import { createAesGcmKeyring, generateKeyringKey, SyncService, type SyncEvents } from "@clientmail/core";
import { saveAttachmentsHandler, saveAttachmentsJob } from "@clientmail/core/internal";
import { silentLogger, type JobQueue, type JobWorker } from "@clientmail/core/ports";
import { createFolderBlobStore, createFolderDocumentSink } from "@clientmail/folder";
import { createImapProvider } from "@clientmail/imap";
import { createPostgresJobQueue, createPostgresStore } from "@clientmail/postgres";
import { loopbackHostPolicy } from "../packages/testkit/src/loopback-host-policy.js";

/** What the child syncs. */
export interface SyncPhaseSettings {
  databaseUrl: string;
  firmId: string;
  mailboxId: string;
  imap: { host: string; port: number; user: string; password: string; folders: string[] };
  /**
   * With a folder for blobs and one for documents, sources are kept (R11) and attachments saved
   * (F9) through the job queue (installed on the database by the parent), and the phase ends when
   * the queue is idle.
   */
  storage?: { blobDir: string; documentsDir: string } | undefined;
}

/** What the child reports. */
export interface SyncPhaseResult {
  outcome: string;
  seconds: number;
  /** Client messages filed (created). */
  filed: number;
  /** Time spent waiting on the provider's `changes` and `fetch`, in ms. */
  spent: { changes: number; fetch: number };
  /** The child's peak resident set, from the kernel (`getrusage` maxrss), MiB. */
  peakRssMiB: number;
  /** The highest RSS sampled every 25 ms during the sync alone, MiB. */
  sampledPeakRssMiB: number;
  /** RSS before the sync started (modules loaded, connections open), MiB. */
  startRssMiB: number;
}

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** Runs the sync phase in a child process and returns what it reports. */
export async function runSyncPhase(settings: SyncPhaseSettings): Promise<SyncPhaseResult> {
  const script = fileURLToPath(import.meta.url);
  // The parent runs under tsx: the same loader flags run the child's TypeScript.
  const child = spawn(process.execPath, [...process.execArgv, script], {
    env: { ...process.env, CLIENTMAIL_SYNC_PHASE: JSON.stringify(settings) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    output += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const line = output.split("\n").find((l) => l.startsWith("SYNC_PHASE "));
  if (code !== 0 || !line) throw new Error(`the sync phase failed (exit ${code}): ${output.slice(-2000)}`);
  return JSON.parse(line.slice("SYNC_PHASE ".length)) as SyncPhaseResult;
}

async function drained(queue: JobQueue): Promise<void> {
  for (;;) {
    const stats = await queue.stats();
    if (stats.waiting === 0 && stats.running === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function child(settings: SyncPhaseSettings): Promise<SyncPhaseResult> {
  const pool = new pg.Pool({ connectionString: settings.databaseUrl, max: 10 });
  pool.on("error", () => undefined);
  const store = createPostgresStore({ pool });
  const spent = { changes: 0, fetch: 0 };
  const timed = <T>(kind: keyof typeof spent, iterable: AsyncIterable<T>): AsyncIterable<T> => ({
    async *[Symbol.asyncIterator]() {
      const iterator = iterable[Symbol.asyncIterator]();
      for (;;) {
        const started = performance.now();
        const next = await iterator.next();
        spent[kind] += performance.now() - started;
        if (next.done) return;
        yield next.value;
      }
    },
  });
  const events = new EventEmitter<SyncEvents>();
  let filed = 0;
  events.on("message.filed", (event) => {
    if (event.created) filed += 1;
  });
  let queue: JobQueue | undefined;
  let worker: JobWorker | undefined;
  const storage = settings.storage && {
    blobs: createFolderBlobStore({ dir: settings.storage.blobDir }),
    documents: createFolderDocumentSink({ dir: settings.storage.documentsDir }),
  };
  if (storage) {
    queue = createPostgresJobQueue({ pool, store });
    worker = await queue.work(
      { [saveAttachmentsJob]: saveAttachmentsHandler({ store, ...storage, logger: silentLogger }) },
      { pollIntervalMs: 50 },
    );
  }
  const sync = new SyncService({
    store,
    clock: { now: () => new Date() },
    logger: silentLogger,
    events,
    ...(storage && queue ? { ...storage, queue } : {}),
    keyring: createAesGcmKeyring({ keys: { bench: generateKeyringKey() }, currentKeyId: "bench" }),
    holder: "bench",
    providerFor: () => {
      const provider = createImapProvider({
        host: settings.imap.host,
        port: settings.imap.port,
        security: "none",
        hostPolicy: loopbackHostPolicy,
        user: settings.imap.user,
        password: settings.imap.password,
        folders: settings.imap.folders,
      });
      return {
        kind: provider.kind,
        changes: (c, o) => timed("changes", provider.changes(c, o)),
        fetch: (ids, o) => timed("fetch", provider.fetch(ids, o)),
        search: provider.search.bind(provider),
        watch: provider.watch.bind(provider),
        close: provider.close.bind(provider),
      };
    },
  });
  const startRss = process.memoryUsage.rss();
  let sampled = startRss;
  const sampler = setInterval(() => {
    sampled = Math.max(sampled, process.memoryUsage.rss());
  }, 25);
  const started = performance.now();
  const outcome = await sync.syncMailbox(settings.firmId, settings.mailboxId);
  if (queue) await drained(queue);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  sampled = Math.max(sampled, process.memoryUsage.rss());
  await worker?.stop({ timeoutMs: 1_000 });
  await queue?.close();
  await sync.closeAll();
  await pool.end();
  return {
    outcome: String(outcome),
    seconds,
    filed,
    spent,
    // maxRSS is in KiB on Linux and macOS.
    peakRssMiB: mib(process.resourceUsage().maxRSS * 1024),
    sampledPeakRssMiB: mib(sampled),
    startRssMiB: mib(startRss),
  };
}

if (process.env.CLIENTMAIL_SYNC_PHASE && process.argv[1] === fileURLToPath(import.meta.url)) {
  const settings = JSON.parse(process.env.CLIENTMAIL_SYNC_PHASE) as SyncPhaseSettings;
  const result = await child(settings);
  process.stdout.write(`SYNC_PHASE ${JSON.stringify(result)}\n`);
  process.exit(0);
}
