import { abortError } from "./abort.js";

/**
 * Waits `ms` milliseconds; rejects as soon as `signal` aborts. The engine, the worker and the
 * providers take one in their settings so tests and benchmarks can pass a virtual clock's sleep.
 */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/**
 * The real {@link Sleep}: a timer that rejects with {@link abortError} when the signal aborts.
 * The timer keeps the process alive, as any pending I/O would: a one-off script waiting out a
 * Retry-After must not exit half-way.
 */
export const sleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
