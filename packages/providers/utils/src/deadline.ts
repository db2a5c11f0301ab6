/**
 * Operation deadlines (R3). A silent (half-open) or trickling server must fail an operation as
 * `transient` instead of hanging it: socket inactivity timeouts do not catch a server that sends
 * a byte every few seconds, so every network operation runs against a wall-clock deadline.
 */
import { abortError, ClientMailError } from "@clientmail/core";

/** Where a deadline applies, for the error's log-safe details. */
export interface DeadlineScope {
  provider: string;
  operation: string;
}

/** The `transient` error an operation past its deadline fails with. */
export function deadlineExceeded(scope: DeadlineScope, timeoutMs: number): ClientMailError {
  return new ClientMailError(
    "transient",
    `The ${scope.provider} ${scope.operation} did not complete within ${timeoutMs} ms`,
    { details: { ...scope, timeoutMs, reason: "deadline_exceeded" } },
  );
}

/** Options of {@link withDeadline}. */
export interface DeadlineOptions extends DeadlineScope {
  timeoutMs: number;
  /** The caller's signal; its abort ends the operation too, with {@link abortError}. */
  signal?: AbortSignal | undefined;
  /**
   * Called once when the deadline passes or the caller aborts, before the returned promise
   * rejects: close what `work` holds (a socket), so nothing keeps running or reading.
   */
  onAbort?: ((reason: ClientMailError) => void) | undefined;
}

/**
 * Runs `work` with a signal that aborts at the deadline or when the caller's signal aborts, and
 * rejects promptly in either case even if `work` ignores the signal (its later outcome is
 * dropped). Pass the signal to `fetch` so the body read is covered too.
 */
export async function withDeadline<T>(
  options: DeadlineOptions,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { signal: parent, timeoutMs } = options;
  if (parent?.aborted) throw abortError(parent, options.provider);
  const controller = new AbortController();
  let fail!: (reason: ClientMailError) => void;
  const aborted = new Promise<never>((_, reject) => {
    fail = reject;
  });
  aborted.catch(() => undefined);
  const stop = (reason: ClientMailError) => {
    if (controller.signal.aborted) return;
    controller.abort(reason);
    try {
      options.onAbort?.(reason);
    } finally {
      fail(reason);
    }
  };
  const timer = setTimeout(() => stop(deadlineExceeded(options, timeoutMs)), timeoutMs);
  const onParentAbort = () => stop(abortError(parent!, options.provider));
  parent?.addEventListener("abort", onParentAbort, { once: true });
  const running = work(controller.signal);
  // The loser of the race below must not become an unhandled rejection.
  running.catch(() => undefined);
  try {
    return await Promise.race([running, aborted]);
  } finally {
    clearTimeout(timer);
    parent?.removeEventListener("abort", onParentAbort);
  }
}
