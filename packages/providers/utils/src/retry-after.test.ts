import { describe, expect, it } from "vitest";
import { parseRetryAfter } from "./retry-after.js";

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
