/**
 * `watch`: change-notification subscriptions against the fake (validation handshake, clientState,
 * renewal, lifecycle events) and the polling fallback.
 */
import { describe, expect, it } from "vitest";
import { graphFaults } from "@clientmail/testkit";
import { clientStateMatches } from "../src/index.js";
import type { GraphProvider } from "../src/index.js";
import { clientMessage, createHarness, manualTimers } from "./harness.js";

const push = {
  notificationUrl: "https://hooks.firm.example/graph",
  lifecycleNotificationUrl: "https://hooks.firm.example/graph-lifecycle",
};

function pushHarness(options: { subscriptionMinutes?: number; echo?: boolean } = {}) {
  const timers = manualTimers();
  const ref: { provider?: GraphProvider } = {};
  const h = createHarness({
    fake: {
      deliver: async (request) => {
        if (options.echo === false)
          return new Response("nope", { status: 200, headers: { "Content-Type": "text/plain" } });
        return ref.provider!.handleWebhook(request);
      },
    },
    provider: {
      push: { ...push, subscriptionMinutes: options.subscriptionMinutes },
      timers,
      pollIntervalMs: 30_000,
    },
  });
  ref.provider = h.provider;
  return { ...h, timers };
}

describe("graph adapter: watch", () => {
  it("Y2: watch subscribes per synced folder after the validation handshake, and a new message calls onChange", async () => {
    const h = pushHarness();
    let calls = 0;
    const subscription = await h.provider.watch(() => calls++);
    const subs = h.fake.subscriptions();
    expect(subs.map((s) => s.resource).sort()).toEqual([
      "me/mailFolders('inbox')/messages",
      "me/mailFolders('sentitems')/messages",
    ]);
    expect(subs.every((s) => (s.clientState ?? "").length >= 32 && (s.clientState ?? "").length <= 128)).toBe(
      true,
    );
    expect(h.fake.deliveries.filter((d) => d.kind === "validation" && d.status === 200)).toHaveLength(4);

    h.mailbox.addMessage(clientMessage(1));
    await h.fake.flushNotifications();
    await Promise.resolve();
    expect(calls).toBe(1);

    await subscription.stop();
    expect(h.fake.subscriptions()).toEqual([]);
    h.mailbox.addMessage(clientMessage(2));
    await h.fake.flushNotifications();
    expect(calls).toBe(1);
  });

  it("a notification whose clientState does not match is ignored", async () => {
    const h = pushHarness();
    let calls = 0;
    await h.provider.watch(() => calls++);
    const [sub] = h.fake.subscriptions();
    const forged = await h.provider.handleWebhook(
      new Request(push.notificationUrl, {
        method: "POST",
        body: JSON.stringify({
          value: [{ subscriptionId: sub!.id, clientState: "guess", changeType: "created", resource: "x" }],
        }),
      }),
    );
    expect(forged.status).toBe(202);
    await Promise.resolve();
    expect(calls).toBe(0);
    const genuine = await h.provider.handleWebhook(
      new Request(push.notificationUrl, {
        method: "POST",
        body: JSON.stringify({
          value: [
            { subscriptionId: sub!.id, clientState: sub!.clientState, changeType: "created", resource: "x" },
          ],
        }),
      }),
    );
    expect(genuine.status).toBe(202);
    await Promise.resolve();
    expect(calls).toBe(1);
  });

  it("clientState comparison is exact and length-safe", () => {
    const expected = Buffer.from("abcdef");
    expect(clientStateMatches(expected, "abcdef")).toBe(true);
    expect(clientStateMatches(expected, "abcdeg")).toBe(false);
    expect(clientStateMatches(expected, "abc")).toBe(false);
    expect(clientStateMatches(expected, undefined)).toBe(false);
  });

  it("400 InvalidRequest (validation handshake failed) falls back to polling", async () => {
    const h = pushHarness({ echo: false });
    let calls = 0;
    const subscription = await h.provider.watch(() => calls++);
    expect(h.fake.requests.filter((r) => r.operation === "createSubscription").map((r) => r.status)).toEqual([
      400,
    ]);
    expect(h.fake.subscriptions()).toEqual([]);
    expect(h.timers.fireNext()).toBe(30_000);
    await Promise.resolve();
    expect(calls).toBe(1);
    expect(h.timers.fireNext()).toBe(30_000);
    await Promise.resolve();
    expect(calls).toBe(2);
    await subscription.stop();
    expect(h.timers.delays()).toEqual([]);
  });

  it("400 ExtensionError (expiration beyond 10070 minutes) falls back to polling", async () => {
    const h = pushHarness();
    h.fake.failNext(1, "createSubscription", graphFaults.subscriptionExpirationTooFar());
    let calls = 0;
    await h.provider.watch(() => calls++);
    expect(h.timers.delays()).toEqual([30_000]);
    h.timers.fireNext();
    await Promise.resolve();
    expect(calls).toBe(1);
  });

  it("subscriptions are renewed with PATCH before they expire", async () => {
    const h = pushHarness({ subscriptionMinutes: 4320 });
    await h.provider.watch(() => undefined);
    const before = h.fake.subscriptions()[0]!.expirationDateTime.getTime();
    const delays = h.timers.delays();
    expect(delays).toHaveLength(2);
    // Renewed an hour before expiry.
    expect(delays[0]).toBe(4320 * 60_000 - 3_600_000);
    h.clock.advance(delays[0]!);
    h.timers.fireNext();
    await h.provider.drain();
    const renewals = h.fake.requests.filter((r) => r.operation === "renewSubscription");
    expect(renewals.map((r) => r.status)).toEqual([200]);
    const after = h.fake.subscriptions().map((s) => s.expirationDateTime.getTime());
    expect(Math.max(...after)).toBeGreaterThan(before);
  });

  it("a renewal answered 404 recreates the subscription and runs a delta pass", async () => {
    const h = pushHarness();
    let calls = 0;
    await h.provider.watch(() => calls++);
    const [first] = h.fake.subscriptions();
    h.fake.failNext(1, "renewSubscription", {
      status: 404,
      body: { error: { code: "ResourceNotFound", message: "The object was not found." } },
    });
    h.clock.advance(h.timers.delays()[0]!);
    h.timers.fireNext();
    await h.provider.drain();
    expect(calls).toBe(1);
    expect(
      h.fake.requests.filter((r) => r.operation === "createSubscription" && r.status === 201),
    ).toHaveLength(3);
    expect(first).toBeDefined();
  });

  it("lifecycle subscriptionRemoved recreates the subscription, then runs a delta pass", async () => {
    const h = pushHarness();
    let calls = 0;
    await h.provider.watch(() => calls++);
    const [first] = h.fake.subscriptions();
    await h.fake.emitLifecycleEvent(first!.id, "subscriptionRemoved");
    await h.provider.drain();
    expect(calls).toBe(1);
    expect(h.fake.subscriptions()).toHaveLength(2);
    expect(h.fake.subscriptions().map((s) => s.id)).not.toContain(first!.id);
    // The new subscription delivers.
    h.mailbox.addMessage(clientMessage(3));
    await h.fake.flushNotifications();
    await Promise.resolve();
    expect(calls).toBe(2);
  });

  it("lifecycle reauthorizationRequired reauthorizes the subscription", async () => {
    const h = pushHarness();
    await h.provider.watch(() => undefined);
    const [sub] = h.fake.subscriptions();
    const delivery = await h.fake.emitLifecycleEvent(sub!.id, "reauthorizationRequired");
    expect(delivery.status).toBe(202);
    await h.provider.drain();
    expect(
      h.fake.requests.filter((r) => r.operation === "reauthorizeSubscription").map((r) => r.status),
    ).toEqual([204]);
  });

  it("lifecycle reauthorizationRequired falls back to PATCH when reauthorize fails", async () => {
    const h = pushHarness();
    await h.provider.watch(() => undefined);
    const [sub] = h.fake.subscriptions();
    h.fake.failNext(1, "reauthorizeSubscription", graphFaults.accessDenied());
    await h.fake.emitLifecycleEvent(sub!.id, "reauthorizationRequired");
    await h.provider.drain();
    expect(h.fake.requests.filter((r) => r.operation === "renewSubscription").map((r) => r.status)).toEqual([
      200,
    ]);
  });

  it("lifecycle missed runs a delta pass", async () => {
    const h = pushHarness();
    let calls = 0;
    await h.provider.watch(() => calls++);
    const [sub] = h.fake.subscriptions();
    await h.fake.emitLifecycleEvent(sub!.id, "missed");
    await h.provider.drain();
    expect(calls).toBe(1);
  });

  it("lifecycle subscriptionRemoved recreates, then runs a delta pass; if recreation fails it polls", async () => {
    const h = pushHarness();
    let calls = 0;
    await h.provider.watch(() => calls++);
    const [sub] = h.fake.subscriptions();
    h.fake.failNext(1, "createSubscription", graphFaults.serviceUnavailable());
    h.fake.failNext(10, "createSubscription", graphFaults.accessDenied());
    await h.fake.emitLifecycleEvent(sub!.id, "subscriptionRemoved");
    await h.provider.drain();
    expect(calls).toBe(1);
    expect(h.fake.subscriptions()).toHaveLength(1);
    expect(h.timers.delays()).toContain(30_000);
  });

  it("without push settings, watch polls", async () => {
    const timers = manualTimers();
    const h = createHarness({ provider: { timers, pollIntervalMs: 5000 } });
    let calls = 0;
    const subscription = await h.provider.watch(() => calls++);
    expect(h.fake.requests).toEqual([]);
    timers.fireNext();
    await Promise.resolve();
    expect(calls).toBe(1);
    await subscription.stop();
  });

  it("close stops every watch and deletes its subscriptions; it is idempotent", async () => {
    const h = pushHarness();
    await h.provider.watch(() => undefined);
    expect(h.fake.subscriptions()).toHaveLength(2);
    await h.provider.close();
    await h.provider.close();
    expect(h.fake.subscriptions()).toEqual([]);
    expect(h.timers.delays()).toEqual([]);
  });
});
