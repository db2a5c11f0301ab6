/**
 * The child process of {@link runSyncPhase} (`sync-phase.ts`), run from a JavaScript bundle: syncs
 * one mailbox with the production engine and prints `SYNC_PHASE <json>`.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { fileURLToPath } from "node:url";
import { writeHeapSnapshot } from "node:v8";
import { EventEmitter } from "eventemitter3";
import pg from "pg";
import { createAesGcmKeyring, generateKeyringKey, SyncService, type SyncEvents } from "@clientmail/core";
import { saveAttachmentsHandler, saveAttachmentsJob } from "@clientmail/core/internal";
import { silentLogger, type JobQueue, type JobWorker } from "@clientmail/core/ports";
import { createFolderBlobStore, createFolderDocumentSink } from "@clientmail/folder";
import { createImapProvider } from "@clientmail/imap";
import { createPostgresJobQueue, createPostgresStore } from "@clientmail/postgres";
import { loopbackHostPolicy } from "../packages/testkit/src/loopback-host-policy.js";
import type { SyncPhaseResult, SyncPhaseSettings } from "./sync-phase.js";

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/**
 * CPU seconds of the main thread alone (Linux: `/proc/self/task/<pid>/stat`, in clock ticks of
 * 1/100 s), or undefined elsewhere: `process.cpuUsage()` adds every thread of the process (GC
 * helpers, and any worker thread), which hides how busy the thread that runs the engine is.
 */
function mainThreadCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Resident pages of this process mapped from files, MiB (Linux: `/proc/self/status`). */
function fileRssMiB(): number | undefined {
  try {
    const kib = /^RssFile:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    return kib === undefined ? undefined : mib(Number(kib) * 1024);
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds used so far by this process's threads other than the main one, and by the machine's
 * PostgreSQL and Dovecot (`imap`) processes (Linux: `/proc`; undefined elsewhere). The sync's work
 * is spread over them: V8 compiles hot code and collects garbage on helper threads, and the
 * database and the IMAP server do their share in processes of their own.
 */
function cpuElsewhere(): { helpers: number; postgres: number; imapServer: number } | undefined {
  const ticks = (file: string): { name: string; seconds: number } | undefined => {
    try {
      const stat = readFileSync(file, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return {
        name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")),
        seconds: (Number(fields[11]) + Number(fields[12])) / 100,
      };
    } catch {
      return undefined; // gone meanwhile
    }
  };
  try {
    const out = { helpers: 0, postgres: 0, imapServer: 0 };
    for (const task of readdirSync("/proc/self/task"))
      if (Number(task) !== process.pid) out.helpers += ticks(`/proc/self/task/${task}/stat`)?.seconds ?? 0;
    for (const pid of readdirSync("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      const stat = ticks(`/proc/${pid}/stat`);
      if (stat?.name === "postgres") out.postgres += stat.seconds;
      else if (stat?.name === "imap") out.imapServer += stat.seconds;
    }
    return out;
  } catch {
    return undefined;
  }
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
  // BENCH_TIMELINE=<file>: when each listing page and fetch result was asked for and arrived, and
  // each store transaction began and ended, in ms from here.
  let t0 = performance.now();
  const line: string[] = [];
  const timeline = Boolean(process.env.BENCH_TIMELINE);
  const mark = (what: () => string) => {
    if (timeline) line.push(`${(performance.now() - t0).toFixed(0)} ${what()}`);
  };
  let calls = 0;
  // The time each call waited for its items, added up per kind. A plain iterator, not an async
  // generator around the provider's: one promise per item is all the measuring adds to the sync.
  const timed = <T>(kind: keyof typeof spent, iterable: AsyncIterable<T>): AsyncIterable<T> => ({
    [Symbol.asyncIterator]() {
      const call = ++calls;
      const iterator = iterable[Symbol.asyncIterator]();
      let n = 0;
      return {
        next: () => {
          const started = performance.now();
          const item = n++;
          mark(() => `${kind}#${call}.${item} ask`);
          return iterator.next().then((next) => {
            mark(() => `${kind}#${call}.${item} got`);
            spent[kind] += performance.now() - started;
            return next;
          });
        },
        return: async (value?: unknown) =>
          (await iterator.return?.(value)) ?? { done: true as const, value: undefined as never },
        throw: async (error?: unknown) => {
          if (iterator.throw) return await iterator.throw(error);
          throw error;
        },
      };
    },
  });
  const tx = store.transaction.bind(store);
  let txs = 0;
  (store as { transaction: typeof tx }).transaction = async (fn) => {
    const id = ++txs;
    mark(() => `tx${id} begin`);
    try {
      return await tx(fn);
    } finally {
      mark(() => `tx${id} end`);
    }
  };
  process.on("exit", () => {
    if (process.env.BENCH_TIMELINE)
      writeFileSync(`${process.env.BENCH_TIMELINE}.${settings.warmup ? "warm" : "cold"}`, line.join("\n"));
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
    providerFor: (mailbox) => {
      const imap =
        settings.warmup?.imap && mailbox.id === settings.warmup.mailboxId
          ? settings.warmup.imap
          : settings.imap;
      const provider = createImapProvider({
        host: imap.host,
        port: imap.port,
        security: "none",
        hostPolicy: loopbackHostPolicy,
        user: imap.user,
        password: imap.password,
        folders: imap.folders,
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
  let atPeak = process.memoryUsage();
  const snapshotAt = Number(process.env.BENCH_HEAP_SNAPSHOT_AT_MIB ?? 0) * 2 ** 20;
  let snapshotTaken = false;
  const sample = () => {
    // The RSS alone is cheap to read; the full breakdown (heap statistics) only at a new peak.
    const rss = process.memoryUsage.rss();
    if (rss <= sampled && !(snapshotAt > 0 && !snapshotTaken)) return;
    const usage = process.memoryUsage();
    if (snapshotAt > 0 && !snapshotTaken && usage.heapUsed > snapshotAt) {
      snapshotTaken = true;
      console.error(`heap snapshot: ${writeHeapSnapshot()}`);
    }
    if (usage.rss > sampled) {
      sampled = usage.rss;
      atPeak = usage;
    }
  };
  if (settings.warmup) {
    // A worker that has run for a while has its hot code compiled: the warm-up mailbox brings this
    // process there before the measured sync (see `SyncPhaseSettings.warmup`).
    const warmed = await sync.syncMailbox(settings.warmup.firmId, settings.warmup.mailboxId);
    if (String(warmed) !== "ok") throw new Error(`the warm-up sync ended ${String(warmed)}`);
    if (queue) await drained(queue);
    filed = 0;
    line.length = 0;
    t0 = performance.now();
    spent.changes = 0;
    spent.fetch = 0;
  }
  const sampler = setInterval(sample, 25);
  // BENCH_CPU_PROFILE=<file>: a CPU profile of the measured sync alone (after any warm-up).
  const profiler = process.env.BENCH_CPU_PROFILE ? new Session() : undefined;
  if (profiler) {
    profiler.connect();
    await profiler.post("Profiler.enable");
    await profiler.post("Profiler.start");
  }
  // BENCH_HEAP_PROFILE=<file>: a sampling profile of what the measured sync allocates, by call site.
  const heapProfiler = process.env.BENCH_HEAP_PROFILE ? new Session() : undefined;
  if (heapProfiler) {
    heapProfiler.connect();
    await heapProfiler.post("HeapProfiler.enable");
    await heapProfiler.post("HeapProfiler.startSampling", {
      samplingInterval: 16_384,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }
  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  const mainAtStart = mainThreadCpuSeconds();
  const elsewhereAtStart = cpuElsewhere();
  const outcome = await sync.syncMailbox(settings.firmId, settings.mailboxId);
  if (queue) await drained(queue);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  const mainAtEnd = mainThreadCpuSeconds();
  const elsewhereAtEnd = cpuElsewhere();
  clearInterval(sampler);
  if (profiler) {
    const { profile } = await profiler.post("Profiler.stop");
    writeFileSync(process.env.BENCH_CPU_PROFILE!, JSON.stringify(profile));
    profiler.disconnect();
  }
  if (heapProfiler) {
    const { profile } = await heapProfiler.post("HeapProfiler.stopSampling");
    writeFileSync(process.env.BENCH_HEAP_PROFILE!, JSON.stringify(profile));
    heapProfiler.disconnect();
  }
  sample();
  await worker?.stop({ timeoutMs: 1_000 });
  await queue?.close();
  await sync.closeAll();
  await pool.end();
  return {
    outcome: String(outcome),
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    mainThreadCpuSeconds:
      mainAtStart === undefined || mainAtEnd === undefined ? undefined : mainAtEnd - mainAtStart,
    cpuElsewhere:
      elsewhereAtStart && elsewhereAtEnd
        ? {
            helpers: elsewhereAtEnd.helpers - elsewhereAtStart.helpers,
            postgres: elsewhereAtEnd.postgres - elsewhereAtStart.postgres,
            imapServer: elsewhereAtEnd.imapServer - elsewhereAtStart.imapServer,
          }
        : undefined,
    filed,
    spent,
    // maxRSS is in KiB on Linux and macOS.
    peakRssMiB: mib(process.resourceUsage().maxRSS * 1024),
    sampledPeakRssMiB: mib(sampled),
    startRssMiB: mib(startRss),
    fileRssMiB: fileRssMiB(),
    atPeak: {
      heapUsedMiB: mib(atPeak.heapUsed),
      heapTotalMiB: mib(atPeak.heapTotal),
      externalMiB: mib(atPeak.external),
      arrayBuffersMiB: mib(atPeak.arrayBuffers),
    },
  };
}

if (process.env.CLIENTMAIL_SYNC_PHASE && process.argv[1] === fileURLToPath(import.meta.url)) {
  const settings = JSON.parse(process.env.CLIENTMAIL_SYNC_PHASE) as SyncPhaseSettings;
  const result = await child(settings);
  process.stdout.write(`SYNC_PHASE ${JSON.stringify(result)}\n`);
  process.exit(0);
}
