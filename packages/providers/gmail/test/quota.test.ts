import { describe, expect, it } from "vitest";
import { collect, connect, raw } from "./harness.js";

function fill(mailbox: ReturnType<typeof connect>["mailbox"], count: number) {
  for (let n = 0; n < count; n += 1) mailbox.addMessage({ raw: raw({ subject: `m${n}` }) });
}

describe("Gmail provider: quota pacing", () => {
  it("Y7: paced at 90% of the per-user quota, a listing larger than a minute's quota sees no rate-limit errors", async () => {
    const { provider, mailbox, fake, time } = connect();
    fill(mailbox, 3200);
    fake.resetUsage();
    const pages = await collect(provider.changes(undefined));
    expect(pages.flatMap((page) => page.added)).toHaveLength(3200);
    expect(fake.calls.filter((call) => call.status === 403 || call.status === 429)).toEqual([]);
    const units = fake.unitsSpent("ann@firm.com");
    expect(units).toBe(1 + 7 * 5 + 3200 * 5);
    // More than one minute's budget (13,500 units) was needed, so the pacer waited.
    expect(time.elapsed()).toBeGreaterThanOrEqual(60_000);
    expect(provider.stats().unitsPaced).toBe(units);
    // Never more than 90% of the limit in any sliding minute.
    const gets = fake.calls.filter((call) => call.units > 0);
    for (let index = 0; index < gets.length; index += 1) {
      const windowStart = gets[index]!.at;
      const inWindow = gets
        .filter((call) => call.at >= windowStart && call.at < windowStart + 60_000)
        .reduce((sum, call) => sum + call.units, 0);
      expect(inWindow).toBeLessThanOrEqual(13_500);
    }
  });

  it("Y7: under the 2026 table (messages.get 20 units, 6,000 per user) configured costs keep the provider under the limit", async () => {
    const { provider, mailbox, fake } = connect({
      fake: { quota: { regime: "2026" } },
      provider: { quota: { unitsPerUserPerMinute: 6_000, costs: { "users.messages.get": 20 } } },
    });
    fill(mailbox, 400);
    const pages = await collect(provider.changes(undefined));
    expect(pages.flatMap((page) => page.added)).toHaveLength(400);
    expect(fake.calls.filter((call) => call.status === 403 || call.status === 429)).toEqual([]);
    expect(fake.unitsSpent()).toBe(1 + 5 + 400 * 20);
  });

  it("Y7: when the project's real limit is lower than configured, the quota 403s are retried until the listing completes", async () => {
    const { provider, mailbox, fake } = connect({
      fake: { quota: { unitsPerUserPerMinute: 1_000 } },
      provider: { retry: { maxAttempts: 10 } },
    });
    fill(mailbox, 300);
    const pages = await collect(provider.changes(undefined));
    expect(pages.flatMap((page) => page.added)).toHaveLength(300);
    expect(fake.calls.filter((call) => call.status === 403).length).toBeGreaterThan(0);
    expect(provider.stats().rateLimited).toBeGreaterThan(0);
  });
});
