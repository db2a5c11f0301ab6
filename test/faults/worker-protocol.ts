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
 * - `attachment-save`: inside an `attachments.save` job, the document sink wrote a file, before
 *   the job heard back (and so before the job completed);
 * - `notify`: a notification was created (and, inside a transaction, committed);
 * - `fetch`: the provider delivered one message's content, before the engine got it;
 * - `page`: the provider listed one page of changes, before the engine got it;
 * - `enqueued`: jobs were added to the queue (with the transaction that added them, committed):
 *   they wait, none has started;
 * - `job-start`: the queue handed this process a job (locked it for this process), before its
 *   handler ran;
 * - `job-done`: a job's handler finished, before the queue recorded the job as done;
 * - `save-enqueued`: as `enqueued`, for a transaction that added `attachments.save` jobs (a page's);
 * - `save-start`: as `job-start`, for an `attachments.save` job;
 * - `backfill-start`: as `job-start`, for a `backfill.addresses` or `backfill.mailbox` job (T7, Y5);
 * - `push-call`: a push registration request (Gmail `users.watch`, Graph subscription create or
 *   renew) is about to be sent, before the provider got it;
 * - `push-accepted`: the provider accepted such a request, before the worker heard its answer;
 * - `push-done`: a `push.subscribe` or `push.renew` job's handler finished (its records and next
 *   renewal committed), before the queue recorded the job as done (Y2, R8);
 * - `invitation-start`: the host's invitation handler was called, before it sent anything;
 * - `invitation-sent`: the host's invitation handler sent (recorded) the email, before the queue
 *   recorded the job as done (T2, R8).
 */
export type PointKind =
  | "before-commit"
  | "commit"
  | "attachment-save"
  | "notify"
  | "fetch"
  | "page"
  | "enqueued"
  | "job-start"
  | "job-done"
  | "save-enqueued"
  | "save-start"
  | "backfill-start"
  | "push-call"
  | "push-accepted"
  | "push-done"
  | "invitation-start"
  | "invitation-sent";

export const pointKinds: readonly PointKind[] = [
  "before-commit",
  "commit",
  "attachment-save",
  "notify",
  "fetch",
  "page",
  "enqueued",
  "job-start",
  "job-done",
  "save-enqueued",
  "save-start",
  "backfill-start",
  "push-call",
  "push-accepted",
  "push-done",
  "invitation-start",
  "invitation-sent",
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

/**
 * The firm's mailboxes on the testkit's Gmail or Graph fake, which the parent serves on a loopback
 * HTTP bridge: the worker runs the real provider against `url` (plain http, `allowInsecure`), with
 * push registrations configured.
 */
export interface HttpTarget {
  kind: "gmail" | "graph";
  /** The bridge, `http://127.0.0.1:<port>`. */
  url: string;
  /** Gmail: the OAuth client the fake's token endpoint accepts. */
  oauthClient?: { clientId: string; clientSecret: string } | undefined;
  /** By mailbox id: its address and credential (Gmail refresh token, Graph access token). */
  mailboxes: Record<string, { address: string; token: string }>;
}

export interface WorkerConfig {
  /** The firm's own database (store and job queue). */
  databaseUrl: string;
  firmId: string;
  /** How the worker reaches each mailbox of the firm. */
  mailboxes: WorkerMailbox[];
  /** Folder of the testkit's FolderDocumentSink. */
  docsDir: string;
  /** Folder of the blob store (sources, staged attachments), shared by the trial's processes. */
  blobsDir: string;
  /** Kill this process with SIGKILL at this point. */
  crash?: Point | undefined;
  /**
   * At this point, let the store writes under way finish, hold every new one, report `paused`,
   * and wait until the parent writes `resume` to stdin: the firm's data stands still meanwhile.
   * Never a `before-commit` point (the pause would wait for its own transaction).
   */
  pause?: Point | undefined;
  /**
   * `until-synced`: the worker (`createWorker`) runs jobs until every mailbox completed a pass in
   * this process and the firm's queue is idle (nothing running, nothing due but the next polls);
   * exits 0 then, 3 when a mailbox was stopped. `once`: until every mailbox's first pass ended,
   * reporting how it ended; exits 0.
   */
  mode: "until-synced" | "once";
  /** Lease length: how long a killed worker's lease keeps the next one out. */
  leaseTtlMs: number;
  /** The job queue's lock timeout: how long a killed worker's running jobs stay locked. */
  lockTimeoutMs: number;
  /** Jobs the worker runs at once. */
  concurrency: number;
  /**
   * The engine's jitter source is scaled by this factor: backoff delays (full jitter) shrink, so a
   * test does not sit out minutes of retries, and their number for an outage of a given length
   * stays what it would be at this scale.
   */
  jitterScale: number;
  maxConsecutiveFailures?: number | undefined;
  /** Seed of the engine's jitter, so a trial's backoff is the same on every run. */
  seed: number;
  /** Extra settings for `createImapProvider` (page size, deadlines). */
  imap: Record<string, unknown>;
  /** Extra settings for `createWorker` (deadlines). */
  engine: Record<string, unknown>;
  /**
   * Messages (by corpus tag) the "server" refuses alone: their fetch results are replaced by an
   * `UnreadableMessage` (`server_refused`), as a provider reports a message that fails on its own
   * on a healthy connection.
   */
  refuseTags?: string[] | undefined;
  /** Added to the engine's clock: a worker that runs "later" (e.g. when quarantine retries are due). */
  clockSkewMs?: number | undefined;
  /**
   * Before it starts taking jobs, the worker process turns email sync of this link on or off
   * through the facade wired to the queue (T7: turning it on enqueues the address's backfill in
   * the same transaction), as a host's web process would.
   */
  toggle?: { linkId: string; emailSync: boolean } | undefined;
  /**
   * The mailboxes are on a Gmail or Graph fake instead of IMAP. The engine's clock is then virtual
   * (`clockSkewMs` ahead, the fake's clock in the parent): run-at times are put back by the skew on
   * the way into the queue, whose database waits on real time.
   */
  http?: HttpTarget | undefined;
  /**
   * The worker is given an invitations handler (T2, R8) that acts as a host which sends each
   * email once: it records every call in `dir/deliveries.log` and "sends" an event by creating
   * `dir/<type>-<sha256(token)>` exclusively — a repeated delivery finds it and sends nothing.
   * Before taking jobs, the worker process changes these links' login through the facade wired to
   * the queue, one transaction each (only the first worker of a trial is given `toggles`).
   */
  invitations?: { dir: string; toggles: Array<{ linkId: string; login: boolean }> } | undefined;
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
      outcome: "ok" | "stopped" | "throttled" | "error" | "not-ran";
      code?: string | undefined;
      ms: number;
    }
  | { t: "closing" }
  | { t: "done"; counts: Record<PointKind, number>; jobs: Record<string, number> }
  | { t: "fatal"; code: string; message: string };

export const workerConfigVariable = "CLIENTMAIL_FAULT_WORKER";
