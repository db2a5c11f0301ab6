import { describe, expect, it } from "vitest";
import { ClientMailError, RateLimitedError } from "../src/errors.js";
import {
  backoffDelay,
  defaultRetryPolicy,
  jobRetryDelay,
  retry,
  spreadWait,
  type RetryPolicy,
} from "../src/retry/index.js";

const policy: RetryPolicy = { maxAttempts: 4, baseDelayMs: 1000, maxDelayMs: 4000, maxWaitMs: 60_000 };

function recordingSleep() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

describe("backoffDelay", () => {
  it("Y7: full jitter: uniform below a doubling ceiling, capped", () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy, () => 1))).toEqual([
      1000, 2000, 4000, 4000, 4000,
    ]);
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
    expect(backoffDelay(2, policy, () => 0.25)).toBe(500);
  });

  it("Y7: a floor keeps a retry from following its failure at once", () => {
    expect(backoffDelay(1, { ...policy, minDelayMs: 250 }, () => 0)).toBe(250);
    expect(backoffDelay(1, { ...policy, minDelayMs: 250 }, () => 1)).toBe(1000);
  });

  it("R6, Y7: a requested wait is a floor, stretched by at most 10%", () => {
    expect(spreadWait(30_000, () => 0)).toBe(30_000);
    expect(spreadWait(30_000, () => 0.5)).toBe(31_500);
    expect(spreadWait(30_000, () => 1)).toBe(33_000);
  });

  it("Y7: a failed job waits near a doubling ceiling, 1 s up to an hour", () => {
    expect([1, 2, 3, 13, 30].map((n) => jobRetryDelay(n, () => 0))).toEqual([
      1000, 2000, 4000, 3_600_000, 3_600_000,
    ]);
    expect(jobRetryDelay(1, () => 1)).toBe(1100);
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
        throw new ClientMailError("transient", "The test get did not complete within 1000 ms", {
          details: { provider: "test", operation: "get", timeoutMs: 1000, reason: "deadline_exceeded" },
        });
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
