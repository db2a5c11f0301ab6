/**
 * The per-mailbox limiter (Y7: Outlook's 4 concurrent requests) with many waiters under one
 * signal, as when a page fetches its messages.
 */
import { getEventListeners } from "node:events";
import { ClientMailError } from "@clientmail/core";
import { describe, expect, it } from "vitest";
import { ConcurrencyLimiter } from "../src/index.js";

describe("ConcurrencyLimiter", () => {
  it("Y7: many waiters under one signal keep one abort listener on it, gone once they are granted", async () => {
    const limiter = new ConcurrencyLimiter(4);
    const controller = new AbortController();
    const held = await Promise.all([1, 2, 3, 4].map(() => limiter.acquire(1, controller.signal)));
    const waiting = Array.from({ length: 20 }, () => limiter.acquire(1, controller.signal));
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    let granted = 0;
    for (const release of held) release();
    for (const next of waiting) {
      (await next)();
      granted += 1;
    }
    expect(granted).toBe(20);
    expect(limiter.active).toBe(0);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  it("R3: an abort rejects every waiter of that signal, lets the others through, and leaves no listener", async () => {
    const limiter = new ConcurrencyLimiter(2);
    const first = new AbortController();
    const second = new AbortController();
    const held = await limiter.acquire(2);
    const aborted = Array.from({ length: 12 }, () => limiter.acquire(1, first.signal));
    const other = limiter.acquire(2, second.signal);
    first.abort(new Error("shutdown"));
    for (const outcome of await Promise.allSettled(aborted)) {
      expect(outcome.status).toBe("rejected");
      expect(ClientMailError.hasCode((outcome as PromiseRejectedResult).reason, "transient")).toBe(true);
    }
    expect(getEventListeners(first.signal, "abort")).toHaveLength(0);
    held();
    (await other)();
    expect(limiter.active).toBe(0);
    expect(getEventListeners(second.signal, "abort")).toHaveLength(0);
  });
});
