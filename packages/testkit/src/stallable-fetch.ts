/**
 * A `fetch` that can go silent on purpose, for the HTTP providers' deadline and abort tests: a
 * stalled request gets no answer at all (not even when its signal aborts, like a transport that
 * never notices), until {@link StallableFetch.resume}.
 */

/** A gated `fetch`; see {@link stallableFetch}. */
export interface StallableFetch {
  fetch: typeof fetch;
  /** From now on, requests hang (a half-open connection). */
  stall(): void;
  /** Requests flow again; the ones that hung proceed. */
  resume(): void;
  /** Requests that hung since the last `stall()`. */
  readonly stalled: number;
}

/** Wraps `inner` in a gate that {@link StallableFetch.stall} closes. */
export function stallableFetch(inner: typeof fetch): StallableFetch {
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let stalled = 0;
  return {
    fetch: async (input, init) => {
      if (gate) {
        stalled += 1;
        await gate;
      }
      return await inner(input, init);
    },
    stall() {
      if (gate) return;
      stalled = 0;
      gate = new Promise<void>((resolve) => {
        open = resolve;
      });
    },
    resume() {
      open?.();
      gate = undefined;
      open = undefined;
    },
    get stalled() {
      return stalled;
    },
  };
}
