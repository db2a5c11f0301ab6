/**
 * The sync phase of a benchmark, in a process of its own (R7): the parent prepares the mailbox,
 * the database and the firm, then runs this script as a child, so the peak memory it reports is
 * the sync's own — the production engine (`SyncService` over the PostgreSQL store and the IMAP
 * provider), and, when documents are on, the job-queue worker saving attachments through the
 * folder BlobStore to a folder document sink — not the fixture generator's or the baselines'.
 *
 * The child (`sync-phase-child.ts`) reads its settings from `CLIENTMAIL_SYNC_PHASE` (JSON, see {@link SyncPhaseSettings})
 * and prints one line `SYNC_PHASE <json>` (see {@link SyncPhaseResult}).
 */
import { spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
import { workerBundle } from "../test/faults/worker-bundle.js";

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
  /**
   * A mailbox synced first, unmeasured, so that the measured sync runs in a warm process: V8 has
   * compiled the hot code, as in a worker that has run for a while. Without it the sync measures a
   * process's first backfill, which also pays for that compilation (about 1.5 s of CPU on helper
   * threads for the 20,000-message benchmark).
   */
  warmup?: { firmId: string; mailboxId: string; imap?: SyncPhaseSettings["imap"] | undefined } | undefined;
}

/** What the child reports. */
export interface SyncPhaseResult {
  outcome: string;
  seconds: number;
  /** CPU time (user and system) the sync process used during the sync, in seconds. */
  cpuSeconds: number;
  /** CPU time of the main thread alone, in seconds (Linux only; see `sync-phase-child.ts`). */
  mainThreadCpuSeconds?: number | undefined;
  /**
   * CPU seconds, during the sync, of the process's other threads (V8's compiler and garbage
   * collector helpers) and of the machine's PostgreSQL and Dovecot processes (Linux only).
   */
  cpuElsewhere?: { helpers: number; postgres: number; imapServer: number } | undefined;
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
  /** Where the memory was at the sampled peak (V8 heap used and total, buffers outside it), MiB. */
  atPeak: { heapUsedMiB: number; heapTotalMiB: number; externalMiB: number; arrayBuffersMiB: number };
  /**
   * Resident pages mapped from files (the node binary and its libraries) at the end, MiB (Linux;
   * undefined elsewhere): part of the RSS that no allocation of the sync's makes.
   */
  fileRssMiB?: number | undefined;
}

/** Runs the sync phase in a child process and returns what it reports. */
export async function runSyncPhase(settings: SyncPhaseSettings): Promise<SyncPhaseResult> {
  // The child runs this file built into one JavaScript bundle, as production runs built code: its
  // memory is then the engine's, not that of tsx compiling the workspace (about 60 MiB more).
  const script = await workerBundle("bench/sync-phase-child.ts");
  const extraFlags = (process.env.BENCH_SYNC_NODE_FLAGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...extraFlags, script], {
    env: { ...process.env, CLIENTMAIL_SYNC_PHASE: JSON.stringify(settings) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    output += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  if (process.env.BENCH_CHILD_OUT) appendFileSync(process.env.BENCH_CHILD_OUT, output);
  const line = output.split("\n").find((l) => l.startsWith("SYNC_PHASE "));
  if (code !== 0 || !line) throw new Error(`the sync phase failed (exit ${code}): ${output.slice(-2000)}`);
  return JSON.parse(line.slice("SYNC_PHASE ".length)) as SyncPhaseResult;
}
