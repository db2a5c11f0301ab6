/**
 * Keeping a mailbox in sync over time (Y2, Y7, R6, N2): passes with retries, push hints and a
 * polling safety net. Transient failures back off and honour Retry-After; rate limits and quotas
 * are waited out as `throttled` and never count toward stopping (R6); a pass that hit its deadline
 * after committing pages made progress and is resumed at once (R3); revoked credentials or too
 * many consecutive failures stop the mailbox and notify its members (N2).
 */
import { ClientMailError, RateLimitedError } from "../errors.js";
import type { FirmId, MailboxId, MailboxSyncState, MailboxStopReason } from "../domain/model.js";
import { notificationKey, syncHealthNotices } from "../domain/notifications.js";
import type { MailProvider } from "../ports/mail-provider.js";
import { codeOf } from "./after-commit.js";
import { backoffDelay, spreadWait, type BackoffPolicy } from "../retry/backoff.js";
import type { Sleep } from "../retry/sleep.js";
import { safeCause } from "./error-cause.js";
import type { PageFilingDependencies } from "./page-filing.js";
import type { SyncPassResult } from "./pass.js";

/** What the loop needs besides the page-filing ports. */
export interface RunLoopDependencies extends PageFilingDependencies {
  sleep: Sleep;
}

/** The longest single wait for a rate limit before the mailbox looks again. */
const maxThrottleWaitMs = 60 * 60_000;

/** What to do after a pass failed: the one policy of Y7, R3, R6 and N2, for the loop and for jobs. */
export type PassFailureAction =
  | { action: "stop"; reason: MailboxStopReason }
  | { action: "throttle"; waitMs: number }
  | { action: "resume" }
  | { action: "retry"; attempt: number; delayMs: number; code: string };

/** Backoff between failed passes of one mailbox (Y7): 1 s doubling to 5 minutes, never under 250 ms. */
const passBackoff: Readonly<BackoffPolicy> = {
  baseDelayMs: 1_000,
  maxDelayMs: 5 * 60_000,
  minDelayMs: 250,
};

/**
 * R6: how long to wait before calling a provider that answered with a rate limit: what it asked
 * for (30 s when it did not say), spread a little, at most an hour at a time. Undefined for any
 * other error.
 */
export function rateLimitWaitMs(error: unknown, random: () => number): number | undefined {
  if (!(error instanceof RateLimitedError) && !ClientMailError.hasCode(error, "rate_limited"))
    return undefined;
  const retryAfterMs = error instanceof RateLimitedError ? error.retryAfterMs : undefined;
  return Math.min(maxThrottleWaitMs, spreadWait(retryAfterMs ?? 30_000, random));
}

/**
 * Decides what follows a failed pass, given how many passes failed in a row before it:
 * revoked credentials stop at once (N2); rate limits wait as long as the provider asked and are
 * not failures (R6); a pass that reached its deadline after committing pages resumes at once
 * (R3); anything else backs off, and stops the mailbox after `maxConsecutiveFailures` (Y7).
 */
export function afterPassFailure(
  error: unknown,
  failuresBefore: number,
  maxConsecutiveFailures: number,
  random: () => number,
): PassFailureAction {
  if (ClientMailError.hasCode(error, "auth_revoked")) return { action: "stop", reason: "auth_revoked" };
  const throttleMs = rateLimitWaitMs(error, random);
  if (throttleMs !== undefined) return { action: "throttle", waitMs: throttleMs };
  if (ClientMailError.hasCode(error, "transient") && Number(error.details.pages ?? 0) > 0)
    return { action: "resume" };
  const attempt = failuresBefore + 1;
  if (attempt >= maxConsecutiveFailures) return { action: "stop", reason: "repeated_failures" };
  return {
    action: "retry",
    attempt,
    delayMs: backoffDelay(attempt, passBackoff, random),
    code: codeOf(error),
  };
}

/** Retries passes of one mailbox; keeps the count of consecutive failures between calls. */
export class RunLoop {
  private consecutiveFailures = 0;

  constructor(
    private readonly deps: RunLoopDependencies,
    private readonly firmId: FirmId,
    private readonly mailboxId: MailboxId,
    private readonly maxConsecutiveFailures: number,
    private readonly pass: (signal?: AbortSignal) => Promise<SyncPassResult>,
  ) {}

  /** One successful pass, retried as Y7 and R6 say. Returns `stopped` when the mailbox was stopped. */
  async passWithRetry(signal?: AbortSignal): Promise<"ok" | "stopped"> {
    for (;;) {
      try {
        await this.pass(signal);
        this.consecutiveFailures = 0;
        return "ok";
      } catch (error) {
        if (signal?.aborted) throw error;
        const next = afterPassFailure(
          error,
          this.consecutiveFailures,
          this.maxConsecutiveFailures,
          this.deps.random,
        );
        const wait = await applyPassFailure(this.deps, this.firmId, this.mailboxId, next, error);
        if (next.action === "stop") return "stopped";
        this.consecutiveFailures =
          next.action === "retry" ? next.attempt : next.action === "resume" ? 0 : this.consecutiveFailures;
        if (wait > 0) await this.deps.sleep(wait, signal);
      }
    }
  }

  /**
   * Runs until `signal` aborts: a pass, then waits for a push hint (or the poll interval) and runs
   * again.
   */
  async run(provider: MailProvider, signal: AbortSignal, pollIntervalMs: number): Promise<void> {
    let wake: (() => void) | undefined;
    let pending = false;
    const hint = () => {
      pending = true;
      wake?.();
    };
    signal.addEventListener("abort", () => wake?.(), { once: true });
    let subscription: { stop(): Promise<void> } | undefined;
    try {
      subscription = await provider.watch(hint, { signal });
    } catch (error) {
      this.deps.logger.warn("push unavailable; polling", {
        firmId: this.firmId,
        mailboxId: this.mailboxId,
        code: codeOf(error),
        cause: safeCause(error),
      });
    }
    try {
      while (!signal.aborted) {
        pending = false;
        const outcome = await this.passWithRetry(signal);
        if (outcome === "stopped") return;
        if (pending) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pollIntervalMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
          if (signal.aborted || pending) wake();
        });
        wake = undefined;
      }
    } finally {
      await subscription?.stop().catch(() => undefined);
    }
  }
}

/**
 * Records the decision of {@link afterPassFailure} on the mailbox (state, log, N2 notices) and
 * returns how long to wait before the next pass (0 for none).
 */
export async function applyPassFailure(
  deps: PageFilingDependencies,
  firmId: FirmId,
  mailboxId: MailboxId,
  next: PassFailureAction,
  error: unknown,
): Promise<number> {
  const now = deps.clock.now();
  const setState = async (state: MailboxSyncState) => {
    await deps.store.setMailboxState(firmId, mailboxId, state);
    deps.events?.emit("sync.state", { firmId, mailboxId, state });
  };
  switch (next.action) {
    case "stop":
      deps.logger.warn("sync stopped", {
        firmId,
        mailboxId,
        reason: next.reason,
        code: codeOf(error),
        cause: safeCause(error),
      });
      await stopMailbox(deps, firmId, mailboxId, next.reason, setState);
      return 0;
    case "throttle":
      // R6: waiting for quota is normal operation, not a failure.
      deps.logger.info("provider rate limit; waiting", { firmId, mailboxId, delayMs: next.waitMs });
      await setState({ status: "throttled", until: new Date(now.getTime() + next.waitMs) });
      return next.waitMs;
    case "resume":
      return 0;
    case "retry":
      deps.logger.warn("sync pass failed; retrying", {
        firmId,
        mailboxId,
        code: next.code,
        cause: safeCause(error),
        reason: ClientMailError.isInstance(error) ? error.details.reason : undefined,
        hint: ClientMailError.isInstance(error) ? error.details.hint : undefined,
        attempt: next.attempt,
        delayMs: next.delayMs,
      });
      await setState({
        status: "retrying",
        attempt: next.attempt,
        nextAttemptAt: new Date(now.getTime() + next.delayMs),
        lastError: next.code,
        lastErrorMessage: safeCause(error),
      });
      return next.delayMs;
  }
}

async function stopMailbox(
  deps: PageFilingDependencies,
  firmId: FirmId,
  mailboxId: MailboxId,
  reason: MailboxStopReason,
  setState: (state: MailboxSyncState) => Promise<void>,
): Promise<void> {
  const { store, clock } = deps;
  const now = clock.now();
  await setState({ status: "stopped", reason, at: now });
  // N2: every member of the mailbox hears that sync stopped, once (the notice is idempotent).
  const [members, mailboxes] = await Promise.all([store.listMembers(firmId), store.listMailboxes(firmId)]);
  const mailbox = mailboxes.find((m) => m.id === mailboxId);
  if (!mailbox) return;
  for (const notice of syncHealthNotices(members, [mailbox])) {
    if (notice.subject.kind !== "sync_stopped") continue;
    await store.createNotification(
      firmId,
      {
        memberId: notice.memberId,
        kind: "sync_stopped",
        payload: { mailboxId: mailbox.id, address: mailbox.address, reason },
        dedupeKey: notificationKey(notice.memberId, notice.subject),
      },
      now,
    );
  }
}
