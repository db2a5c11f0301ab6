import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { GmailPushMessage } from "@clientmail/testkit";
import { connect, raw } from "./harness.js";

describe("Gmail provider: watch", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("Y2: users.watch push raises a change hint and the watch is renewed daily", async () => {
    const { provider, mailbox, fake } = connect({
      provider: { push: { topicName: "projects/p/topics/gmail" } },
    });
    const pushes: GmailPushMessage[] = [];
    fake.onPush((push) => pushes.push(push));
    let hints = 0;
    const subscription = await provider.watch(() => (hints += 1));
    expect(fake.callCount("users.watch")).toBe(1);
    expect(mailbox.watch?.topicName).toBe("projects/p/topics/gmail");
    mailbox.addMessage({ raw: raw() });
    expect(pushes).toHaveLength(1);
    expect(provider.handlePushNotification(pushes[0])).toBe(true);
    expect(hints).toBe(1);
    // A redelivered (or older) notification is not a new hint.
    expect(provider.handlePushNotification(pushes[0])).toBe(false);
    expect(hints).toBe(1);
    await vi.advanceTimersByTimeAsync(86_400_000);
    expect(fake.callCount("users.watch")).toBe(2);
    await subscription.stop();
    expect(fake.callCount("users.stop")).toBe(1);
    expect(mailbox.watch).toBeUndefined();
  });

  it("handles malformed or foreign push bodies without throwing", async () => {
    const { provider } = connect({ provider: { push: { topicName: "projects/p/topics/gmail" } } });
    await provider.watch(() => undefined);
    const foreign = {
      message: {
        data: Buffer.from(JSON.stringify({ emailAddress: "eve@evil.com", historyId: "99999999" })).toString(
          "base64url",
        ),
      },
    };
    expect(provider.handlePushNotification(foreign)).toBe(false);
    expect(provider.handlePushNotification({ message: { data: "%%%" } })).toBe(false);
    expect(provider.handlePushNotification(null)).toBe(false);
    await provider.close();
    await provider.close();
  });

  it("Y2: without push, watch polls the history id and hints only when it moved", async () => {
    const { provider, mailbox, fake } = connect({ provider: { pollIntervalMs: 60_000 } });
    let hints = 0;
    await provider.watch(() => (hints += 1));
    expect(fake.callCount("users.watch")).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(hints).toBe(0);
    mailbox.addMessage({ raw: raw() });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(hints).toBe(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(hints).toBe(1);
    await provider.close();
    mailbox.addMessage({ raw: raw() });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(hints).toBe(1);
  });

  it("pubsubForbidden: a topic Gmail may not publish to falls back to polling", async () => {
    const { provider, mailbox, fake } = connect({
      provider: { push: { topicName: "projects/p/topics/locked" }, pollIntervalMs: 30_000 },
    });
    fake.failNext("users.watch", 1, "pubsubForbidden");
    let hints = 0;
    const subscription = await provider.watch(() => (hints += 1));
    expect(fake.calls.find((call) => call.method === "users.watch")?.status).toBe(403);
    mailbox.addMessage({ raw: raw() });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(hints).toBe(1);
    await subscription.stop();
    expect(fake.callCount("users.stop")).toBe(0);
  });

  it("invalid topicName (400 invalidArgument from users.watch) falls back to polling", async () => {
    const { provider, mailbox, fake } = connect({
      provider: { push: { topicName: "not-a-topic" }, pollIntervalMs: 30_000 },
    });
    let hints = 0;
    await provider.watch(() => (hints += 1));
    expect(fake.calls.find((call) => call.method === "users.watch")?.status).toBe(400);
    mailbox.addMessage({ raw: raw() });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(hints).toBe(1);
    await provider.close();
  });
});
