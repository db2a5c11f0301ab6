import { ClientMailError, RateLimitedError } from "@clientmail/core";
import { describe, expect, it } from "vitest";
import { GRAPH_SEND_LIMITS, SendPacer } from "./send-pacer.js";

function clockAt(start: number) {
  let now = start;
  return { clock: { now: () => new Date(now) }, advance: (ms: number) => (now += ms) };
}

function refusal(run: () => unknown): RateLimitedError {
  try {
    run();
  } catch (error) {
    expect(ClientMailError.hasCode(error, "rate_limited")).toBe(true);
    return error as RateLimitedError;
  }
  throw new Error("expected a refusal");
}

describe("SendPacer (sending limits)", () => {
  it("S1: Graph's 30 messages a minute: the 31st waits until the first leaves the minute", () => {
    const { clock, advance } = clockAt(0);
    const pacer = new SendPacer(GRAPH_SEND_LIMITS, clock);
    for (let i = 0; i < 30; i += 1) {
      pacer.reserve(1);
      advance(1_000);
    }
    const error = refusal(() => pacer.reserve(1));
    expect(error.retryAfterMs).toBe(30_000);
    expect(error.retryable).toBe(true);
    advance(30_000);
    expect(() => pacer.reserve(1)).not.toThrow();
  });

  it("S1: Graph's 10,000 recipients a day counts recipients, and a released send does not count", () => {
    const { clock, advance } = clockAt(0);
    const pacer = new SendPacer(GRAPH_SEND_LIMITS, clock);
    const first = pacer.reserve(6_000);
    advance(3_600_000);
    pacer.reserve(3_000);
    advance(60_000);
    const error = refusal(() => pacer.reserve(2_000));
    expect(error.retryAfterMs).toBe(86_400_000 - 3_660_000);
    first.release();
    expect(() => pacer.reserve(2_000)).not.toThrow();
  });

  it("S1: a message with more recipients than the day allows is refused for good", () => {
    const { clock } = clockAt(0);
    const error = refusal(() => new SendPacer(GRAPH_SEND_LIMITS, clock).reserve(10_001));
    expect(error.retryAfterMs).toBeUndefined();
    expect(error.retryable).toBe(false);
  });
});
