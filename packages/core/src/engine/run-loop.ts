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
import { backoffDelay } from "./backoff.js";
import type { PageFilingDependencies } from "./page-filing.js";
import type { SyncPassResult } from "./pass.js";

/** What the loop needs besides the page-filing ports. */
export interface RunLoopDependencies extends PageFilingDependencies {
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** The longest single wait for a rate limit before the mailbox looks again. */
const maxThrottleWaitMs = 60 * 60_000;

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
        if (ClientMailError.hasCode(error, "auth_revoked")) {
          await this.stop("auth_revoked");
          return "stopped";
        }
        const now = this.deps.clock.now();
        if (error instanceof RateLimitedError || ClientMailError.hasCode(error, "rate_limited")) {
          // R6: waiting for quota is normal operation, not a failure.
          const retryAfterMs = error instanceof RateLimitedError ? error.retryAfterMs : undefined;
          const wait = Math.min(maxThrottleWaitMs, backoffDelay(1, retryAfterMs ?? 30_000, this.deps.random));
          this.deps.logger.info("provider rate limit; waiting", {
            firmId: this.firmId,
            mailboxId: this.mailboxId,
            delayMs: wait,
          });
          await this.setState({ status: "throttled", until: new Date(now.getTime() + wait) });
          await this.deps.sleep(wait, signal);
          continue;
        }
        if (ClientMailError.hasCode(error, "transient") && Number(error.details.pages ?? 0) > 0) {
          // R3: the pass reached its deadline after committing pages: progress, resume at once.
          this.consecutiveFailures = 0;
          continue;
        }
        this.consecutiveFailures += 1;
        if (this.consecutiveFailures >= this.maxConsecutiveFailures) {
          await this.stop("repeated_failures");
          return "stopped";
        }
        const delay = backoffDelay(this.consecutiveFailures, undefined, this.deps.random);
        this.deps.logger.warn("sync pass failed; retrying", {
          firmId: this.firmId,
          mailboxId: this.mailboxId,
          code: codeOf(error),
          reason: ClientMailError.isInstance(error) ? error.details.reason : undefined,
          attempt: this.consecutiveFailures,
          delayMs: delay,
        });
        await this.setState({
          status: "retrying",
          attempt: this.consecutiveFailures,
          nextAttemptAt: new Date(now.getTime() + delay),
          lastError: codeOf(error),
        });
        await this.deps.sleep(delay, signal);
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

  private async stop(reason: MailboxStopReason): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock.now();
    await this.setState({ status: "stopped", reason, at: now });
    // N2: every member of the mailbox hears that sync stopped, once (the notice is idempotent).
    const [members, mailboxes] = await Promise.all([
      store.listMembers(this.firmId),
      store.listMailboxes(this.firmId),
    ]);
    const mailbox = mailboxes.find((m) => m.id === this.mailboxId);
    if (!mailbox) return;
    for (const notice of syncHealthNotices(members, [mailbox])) {
      if (notice.subject.kind !== "sync_stopped") continue;
      await store.createNotification(
        this.firmId,
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

  private async setState(state: MailboxSyncState): Promise<void> {
    await this.deps.store.setMailboxState(this.firmId, this.mailboxId, state);
    this.deps.events?.emit("sync.state", { firmId: this.firmId, mailboxId: this.mailboxId, state });
  }
}
