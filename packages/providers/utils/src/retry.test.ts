import { describe, expect, it } from "vitest";
import { ClientMailError, RateLimitedError } from "@clientmail/core";
import { deadlineExceeded } from "./deadline.js";
import { parseRetryAfter } from "./retry-after.js";
import { backoffDelay, defaultRetryPolicy, retry, type RetryPolicy } from "./retry.js";

const policy: RetryPolicy = { maxAttempts: 4, baseDelayMs: 1000, maxDelayMs: 4000, maxWaitMs: 60_000 };

function recordingSleep() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

describe("parseRetryAfter", () => {
  const now = Date.UTC(2026, 0, 1, 12);
  it("Y7: reads delay-seconds and HTTP dates", () => {
    expect(parseRetryAfter("7", now)).toBe(7000);
    expect(parseRetryAfter("1.5", now)).toBe(1500);
    expect(parseRetryAfter(new Date(now + 42_000).toUTCString(), now)).toBe(42_000);
  });
  it("Y7: zero, past dates, garbage and absence mean 'not said'", () => {
    for (const value of ["0", " ", "soon", null, undefined, new Date(now - 1000).toUTCString()])
      expect(parseRetryAfter(value, now), String(value)).toBeUndefined();
  });
});

describe("backoffDelay", () => {
  it("Y7: full jitter: uniform below a doubling ceiling, capped", () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy, () => 1))).toEqual([
      1000, 2000, 4000, 4000, 4000,
    ]);
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
    expect(backoffDelay(2, policy, () => 0.25)).toBe(500);
  });
});

describe("retry", () => {
  it("Y7: repeats retryable failures with backoff until the call succeeds", async () => {
    const { waits, sleep } = recordingSleep();
    let calls = 0;
    const result = await retry(
      async (attempt) => {
        calls += 1;
        if (attempt < 3) throw new ClientMailError("transient", "boom");
        return "ok";
      },
      { policy, sleep, random: () => 1 },
    );
    expect(result).toBe("ok");
    expect(calls).toBe(3);
    expect(waits).toEqual([1000, 2000]);
  });

  it("R6: waits the Retry-After a rate limit asked for, and gives up with it after the last attempt", async () => {
    const { waits, sleep } = recordingSleep();
    const error = await retry(
      async () => {
        throw new RateLimitedError("slow down", 5000);
      },
      { policy, sleep, random: () => 1 },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(5000);
    expect(waits).toEqual([5000, 5000, 5000]);
  });

  it("R6: a requested wait beyond maxWaitMs is thrown at once for the engine to wait out", async () => {
    const { waits, sleep } = recordingSleep();
    let calls = 0;
    const error = await retry(
      async () => {
        calls += 1;
        throw new RateLimitedError("daily limit", 3_600_000);
      },
      { policy, sleep, random: () => 1 },
    ).catch((e: unknown) => e);
    expect(ClientMailError.hasCode(error, "rate_limited")).toBe(true);
    expect(calls).toBe(1);
    expect(waits).toEqual([]);
  });

  it("R3: a request past its deadline is not repeated inside the call, so the deadline holds", async () => {
    const { waits, sleep } = recordingSleep();
    let calls = 0;
    const error = await retry(
      async () => {
        calls += 1;
        throw deadlineExceeded({ provider: "test", operation: "get" }, 1000);
      },
      { policy, sleep, random: () => 1 },
    ).catch((e: unknown) => e);
    expect(ClientMailError.hasCode(error, "transient")).toBe(true);
    expect(calls).toBe(1);
    expect(waits).toEqual([]);
  });

  it("does not repeat what is not retryable", async () => {
    const { sleep } = recordingSleep();
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls += 1;
          throw new ClientMailError("auth_revoked", "no");
        },
        { policy, sleep, random: () => 1 },
      ),
    ).rejects.toMatchObject({ code: "auth_revoked" });
    expect(calls).toBe(1);
  });

  it("R3: an abort during a wait ends the call with the abort's error, not the last failure", async () => {
    const controller = new AbortController();
    const error = await retry(
      async () => {
        throw new ClientMailError("transient", "boom");
      },
      {
        policy: defaultRetryPolicy,
        random: () => 1,
        signal: controller.signal,
        sleep: async () => {
          controller.abort(new Error("shutdown"));
          throw new Error("sleep interrupted");
        },
      },
    ).catch((e: unknown) => e);
    expect(ClientMailError.hasCode(error, "transient")).toBe(true);
    expect((error as ClientMailError).details.aborted).toBe(true);
    expect((error as ClientMailError).retryable).toBe(false);
  });
});
