/**
 * One sync pass of a mailbox (Y6, R1, R3): take the fenced lease, retry quarantined messages that
 * are due (R2), apply every page of changes since the saved cursor (a full listing on the first
 * pass or after `cursor_expired`), each page committed with its cursor, and mark the mailbox live.
 *
 * A pass has a deadline (R3). Provider calls get a signal that aborts at the deadline, and the
 * engine stops waiting for a provider that ignores it; the page in flight is not committed, and
 * the next pass resumes from the last committed cursor.
 */
import { ClientMailError } from "../errors.js";
import type { MailboxId, MailboxSyncState } from "../domain/model.js";
import type { ChangePage, MailProvider } from "../ports/mail-provider.js";
import { codeOf } from "./after-commit.js";
import { loadFirmContext, type FirmContext } from "./directory.js";
import {
  PageFiler,
  type PageFilingDependencies,
  type PageOutcome,
  type PreparedPage,
} from "./page-filing.js";

/** How a pass runs. */
export interface PassSettings {
  /** Names this worker in the lease (for operators); the fencing token protects writes. */
  holder: string;
  leaseTtlMs: number;
  /** The longest a pass may run before it ends as `transient` (R3). */
  passDeadlineMs: number;
  /** Quarantined messages retried per pass, at most. */
  quarantineRetryLimit: number;
}

/** The outcome of one sync pass. */
export interface SyncPassResult {
  /** False when another worker holds the lease; nothing was done. */
  ran: boolean;
  examined: number;
  filed: number;
  removed: number;
  resynced: boolean;
  /** Provider ids quarantined (or kept in quarantine) by this pass (R2). */
  quarantined: string[];
  /** Pages committed with their cursor. */
  pages: number;
}

/** How often the stored backfill progress is refreshed. */
const progressIntervalMs = 2_000;

/** Thrown when a pass reached its deadline (R3); `details.pages` says how many pages it committed first. */
export function passDeadlineError(deadlineMs: number, pages: number, cause: unknown): ClientMailError {
  return new ClientMailError("transient", `The sync pass reached its deadline of ${deadlineMs} ms`, {
    cause,
    details: { reason: "pass_deadline", deadlineMs, pages },
  });
}

/**
 * Iterates `iterable` but gives up as soon as `signal` aborts, even when the iterator itself does
 * not listen to the signal (a provider stuck on a silent connection).
 *
 * R7: each step races the iterator with an abort listener of its own, removed when the step
 * settles. Racing every step against one promise that lives for the whole pass would hang a
 * reaction per page on it, and with it every page already handled: a 20,000-message backfill kept
 * all its envelopes in memory that way.
 */
async function* untilAborted<T>(iterable: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const iterator = iterable[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await untilAbortedPromise(iterator.next(), signal);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Not awaited: a stuck iterator may never finish returning.
    void Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
}

/**
 * Asks the provider for the next page as soon as one arrives (unless it was the last), so that
 * page N+1 is listed while page N is fetched and written. A failure to list the next page is
 * thrown when the engine asks for that page, after page N was handled as usual.
 */
async function* listedAhead(pages: AsyncIterable<ChangePage>): AsyncGenerator<ChangePage> {
  const iterator = pages[Symbol.asyncIterator]();
  let next: Promise<IteratorResult<ChangePage>> | undefined = iterator.next();
  try {
    while (next) {
      const result = await next;
      next = undefined;
      if (result.done) return;
      if (!result.value.done) {
        next = iterator.next();
        // Observed now; the failure is rethrown by the `await` above on the next round.
        next.catch(() => undefined);
      }
      yield result.value;
    }
  } finally {
    // Not awaited: a stuck provider may never finish returning.
    void Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
}

/** Resolves `promise` unless `signal` aborts first. */
function untilAbortedPromise<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = () => reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    if (signal.aborted) return fail();
    signal.addEventListener("abort", fail, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", fail);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", fail);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Runs one pass; see the module comment. Provider failures are thrown to the caller. */
export async function runPass(
  deps: PageFilingDependencies,
  provider: MailProvider,
  firmId: string,
  mailboxId: MailboxId,
  settings: PassSettings,
  signal?: AbortSignal,
): Promise<SyncPassResult> {
  const { store } = deps;
  const result: SyncPassResult = {
    ran: false,
    examined: 0,
    filed: 0,
    removed: 0,
    resynced: false,
    quarantined: [],
    pages: 0,
  };
  const token = await store.acquireLease(firmId, mailboxId, settings.holder, settings.leaseTtlMs);
  if (token === undefined) return result;
  result.ran = true;
  const startedAt = deps.clock.now().getTime();
  let outcome = "ok";
  const deadline = AbortSignal.timeout(settings.passDeadlineMs);
  const callSignal = signal ? AbortSignal.any([signal, deadline]) : deadline;
  const setState = async (state: MailboxSyncState, lastSyncedAt?: Date) => {
    await store.setMailboxState(firmId, mailboxId, state, lastSyncedAt);
    deps.events?.emit("sync.state", { firmId, mailboxId, state });
  };
  try {
    const context = await loadFirmContext(store, firmId, mailboxId);
    const filer = new PageFiler(deps, context, provider);
    await retryQuarantine(deps, filer, context, settings, result, callSignal);
    let cursor = await store.getCursor(firmId, mailboxId);
    for (let attempt = 0; ; attempt++) {
      try {
        await applyChanges(
          deps,
          provider,
          filer,
          context,
          cursor,
          token,
          settings,
          result,
          setState,
          callSignal,
        );
        break;
      } catch (error) {
        if (!ClientMailError.hasCode(error, "cursor_expired") || attempt > 0) throw error;
        // Y6: the provider no longer accepts the cursor. Forget it (fenced) and list everything;
        // filing is idempotent, and copies seen again under new ids keep their messages (F8).
        deps.logger.warn("cursor expired; running a full resync", { firmId, mailboxId });
        await store.setCursor(firmId, mailboxId, token, undefined);
        deps.events?.emit("sync.resync", { firmId, mailboxId });
        result.resynced = true;
        cursor = undefined;
      }
    }
    await setState({ status: "live" }, deps.clock.now());
    return result;
  } catch (error) {
    if (deadline.aborted && !signal?.aborted) {
      outcome = "transient";
      throw passDeadlineError(settings.passDeadlineMs, result.pages, error);
    }
    outcome = codeOf(error);
    throw error;
  } finally {
    recordPass(deps, provider, result, outcome, deps.clock.now().getTime() - startedAt);
    await store.releaseLease(firmId, mailboxId, token).catch((error: unknown) => {
      deps.logger.warn("could not release lease", { firmId, mailboxId, code: codeOf(error) });
    });
  }
}

/** R2: quarantined messages whose next attempt is due are fetched and filed again. */
async function retryQuarantine(
  deps: PageFilingDependencies,
  filer: PageFiler,
  context: FirmContext,
  settings: PassSettings,
  result: SyncPassResult,
  signal: AbortSignal,
): Promise<void> {
  const due = await deps.store.listQuarantine(context.firmId, {
    mailboxId: context.mailbox.id,
    dueAt: deps.clock.now(),
    limit: settings.quarantineRetryLimit,
  });
  if (due.length === 0) return;
  const prepared = await untilAbortedPromise(
    filer.prepareRetry(
      due.map((entry) => entry.providerId),
      signal,
    ),
    signal,
  );
  const outcome = await filer.write(prepared, undefined);
  result.filed += outcome.filed;
  result.quarantined.push(...outcome.quarantined);
}

async function applyChanges(
  deps: PageFilingDependencies,
  provider: MailProvider,
  filer: PageFiler,
  context: FirmContext,
  cursor: string | undefined,
  token: number,
  settings: PassSettings,
  result: SyncPassResult,
  setState: (state: MailboxSyncState) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const { store, clock } = deps;
  const { firmId } = context;
  const mailboxId = context.mailbox.id;
  const backfilling = cursor === undefined || cursor.length === 0;
  let done = 0;
  let renewedAt = clock.now().getTime();
  let progressAt = renewedAt;
  if (backfilling) await setState({ status: "backfilling", done: 0, estimated: undefined });
  // A full listing sees every copy the mailbox still has; what the store remembers beyond that
  // vanished while there was no valid cursor (F8). Copies it sees again under new ids (after a
  // UIDVALIDITY change) are relinked to their messages first.
  const known = backfilling ? new Set(await store.listSightings(firmId, mailboxId)) : undefined;
  const relink = known !== undefined && known.size > 0;
  // Only copies the store remembers can have vanished: a first backfill keeps no list.
  const listed = relink ? new Set<string>() : undefined;
  // Pipelined: page N+1 is listed while page N is fetched (see listedAhead), and while page N is
  // written to the store, page N+1 is fetched. Pages are still committed strictly in order, each
  // with its own cursor, so a crash replays from the last committed page.
  let writing: Promise<PageOutcome> | undefined;
  const settle = async () => {
    if (!writing) return;
    const outcome = await writing;
    writing = undefined;
    result.filed += outcome.filed;
    result.removed += outcome.removed;
    result.quarantined.push(...outcome.quarantined);
    result.pages += 1;
  };
  try {
    for await (const page of untilAborted(listedAhead(provider.changes(cursor, { signal })), signal)) {
      result.examined += page.added.length;
      if (listed) for (const envelope of page.added) listed.add(envelope.providerId);
      const prepared: PreparedPage = await untilAbortedPromise(
        filer.prepare(page.added, { signal, relink, unreadable: page.unreadable }),
        signal,
      );
      await settle();
      if (signal.aborted) throw signal.reason;
      // Renewed once a third of the lease has passed, not per page: each renewal is a commit.
      // The fenced cursor write is what protects the data either way.
      if (clock.now().getTime() - renewedAt >= settings.leaseTtlMs / 3) {
        if (!(await store.renewLease(firmId, mailboxId, token, settings.leaseTtlMs))) {
          throw new ClientMailError("lease_lost", "Another worker took over this mailbox", {
            details: { mailboxId },
          });
        }
        renewedAt = clock.now().getTime();
      }
      writing = filer.write(prepared, { token, cursor: page.cursor, removed: page.removed });
      // Observed now so that a failure is not reported as unhandled while the next page loads.
      writing.catch(() => undefined);
      done += page.added.length;
      if (backfilling) {
        deps.events?.emit("sync.progress", { firmId, mailboxId, done, estimated: page.estimatedTotal });
        // The stored progress (N5) is refreshed every few seconds; events report every page.
        if (!page.done && clock.now().getTime() - progressAt >= progressIntervalMs) {
          await setState({ status: "backfilling", done, estimated: page.estimatedTotal });
          progressAt = clock.now().getTime();
        }
      }
      if (page.done) break;
    }
    await settle();
    if (listed && known) {
      const vanished = [...known].filter((id) => !listed.has(id));
      if (vanished.length > 0)
        result.removed += filer.reportRemoval(
          await store.removeSightings(firmId, mailboxId, vanished, clock.now()),
        );
    }
  } finally {
    // Never leave a write running behind a failure: wait for it (its error, if any, loses to the first).
    if (writing) {
      const pending: Promise<PageOutcome> = writing;
      await pending.then(
        () => {
          result.pages += 1;
        },
        () => undefined,
      );
    }
  }
}

/** The pass's counts and duration, for the host's metrics (labels: provider kind, outcome code). */
function recordPass(
  deps: PageFilingDependencies,
  provider: MailProvider,
  result: SyncPassResult,
  outcome: string,
  durationMs: number,
): void {
  const metrics = deps.metrics;
  if (!metrics) return;
  const labels = { provider: provider.kind };
  metrics.increment("clientmail_messages_examined_total", result.examined, labels);
  metrics.increment("clientmail_messages_filed_total", result.filed, labels);
  metrics.increment("clientmail_messages_quarantined_total", result.quarantined.length, labels);
  metrics.observe("clientmail_sync_pass_duration_seconds", Math.max(0, durationMs) / 1000, {
    ...labels,
    outcome,
  });
}
