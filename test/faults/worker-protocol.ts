/**
 * What the fault suite's parent and its worker child process say to each other: the worker's
 * configuration (one JSON value in an environment variable) and the JSON lines it writes to
 * stdout. Plain data only.
 */

/**
 * Points in the worker's life where it can be killed (SIGKILL, by itself) or paused, each counted
 * from 1 within one worker process:
 * - `before-commit`: a store transaction's work is done but it has not committed;
 * - `commit`: a store write committed (a transaction, or a single write outside one);
 * - `attachment-save`: the document sink wrote a file, before the engine heard back;
 * - `notify`: a notification was created (and, inside a transaction, committed);
 * - `fetch`: the provider delivered one message's content, before the engine got it;
 * - `page`: the provider listed one page of changes, before the engine got it.
 */
export type PointKind = "before-commit" | "commit" | "attachment-save" | "notify" | "fetch" | "page";

export const pointKinds: readonly PointKind[] = [
  "before-commit",
  "commit",
  "attachment-save",
  "notify",
  "fetch",
  "page",
];

/** The `n`-th time the worker reaches a point of `kind`. */
export interface Point {
  kind: PointKind;
  n: number;
}

/** A mailbox the worker syncs, and how it reaches the IMAP server (often through a proxy). */
export interface WorkerMailbox {
  id: string;
  label: string;
  host: string;
  port: number;
  user: string;
  password: string;
}

export interface WorkerConfig {
  databaseUrl: string;
  firmId: string;
  /** Synced one after the other, in this order. */
  mailboxes: WorkerMailbox[];
  /** Folder of the testkit's FolderDocumentSink. */
  docsDir: string;
  /** Kill this process with SIGKILL at this point. */
  crash?: Point | undefined;
  /**
   * At this point, let the store writes under way finish, hold every new one, report `paused`,
   * and wait until the parent writes `resume` to stdin: the firm's data stands still meanwhile.
   * Never a `before-commit` point (the pause would wait for its own transaction).
   */
  pause?: Point | undefined;
  /**
   * `until-synced`: passes with the engine's retry policy (`SyncService.syncMailbox`) until each
   * mailbox completed one; exits 0 then, 3 when a mailbox was stopped. `once`: one pass per
   * mailbox without retries (`syncOnce`), reporting how it ended.
   */
  mode: "until-synced" | "once";
  /** Lease length: how long a killed worker's lease keeps the next one out. */
  leaseTtlMs: number;
  /**
   * The engine's waits (backoff, Retry-After) are scaled by this factor and cut to at most
   * `sleepCapMs`: time runs faster for the engine, so a test does not sit out minutes, while the
   * number of retries an outage of a given length costs stays what it would be at this scale.
   */
  sleepScale: number;
  sleepCapMs: number;
  maxConsecutiveFailures?: number | undefined;
  /** Seed of the engine's jitter, so a trial's backoff is the same on every run. */
  seed: number;
  /** Extra settings for `createImapProvider` (page size, deadlines). */
  imap: Record<string, unknown>;
  /** Extra settings for `SyncService` (deadlines). */
  engine: Record<string, unknown>;
  /**
   * Messages (by corpus tag) the "server" refuses alone: their fetch results are replaced by an
   * `UnreadableMessage` (`server_refused`), as a provider reports a message that fails on its own
   * on a healthy connection.
   */
  refuseTags?: string[] | undefined;
  /** Added to the engine's clock: a worker that runs "later" (e.g. when quarantine retries are due). */
  clockSkewMs?: number | undefined;
  /** Write a line for every point reached (the parent reacts to them). */
  reportPoints: boolean;
}

/** The lines the worker writes to stdout, one JSON value each. */
export type WorkerLine =
  | { t: "point"; kind: PointKind; n: number }
  | { t: "paused"; kind: PointKind; n: number }
  | { t: "crash"; kind: PointKind; n: number }
  | { t: "state"; mailbox: string; status: string }
  | {
      t: "pass";
      mailbox: string;
      outcome: "ok" | "stopped" | "error" | "not-ran";
      code?: string | undefined;
      ms: number;
    }
  | { t: "closing" }
  | { t: "done"; counts: Record<PointKind, number> }
  | { t: "fatal"; code: string; message: string };

export const workerConfigVariable = "CLIENTMAIL_FAULT_WORKER";
