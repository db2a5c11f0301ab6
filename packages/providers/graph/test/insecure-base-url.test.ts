/**
 * R9: the Graph root is https. A plain `http://` base URL — a fake on loopback, in tests — is
 * accepted only with `allowInsecure`, an explicit opt-in that is logged when the provider is
 * created; the provider then really talks to it over TCP (here the Graph fake behind the testkit's
 * loopback HTTP bridge), push registrations included.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ClientMailError } from "@clientmail/core";
import type { Logger } from "@clientmail/core/ports";
import { createGraphFake, startHttpBridge, type HttpBridge } from "@clientmail/testkit";
import { createGraphProvider } from "../src/index.js";

const bridges: HttpBridge[] = [];
afterEach(async () => {
  for (const bridge of bridges.splice(0)) await bridge.close();
});

function recordingLogger(): Logger & { warnings: unknown[][] } {
  const warnings: unknown[][] = [];
  return {
    warnings,
    debug: () => undefined,
    info: () => undefined,
    error: () => undefined,
    warn: (message, fields) => warnings.push([message, fields]),
  };
}

async function fakeOnLoopback() {
  const fake = createGraphFake({
    deliver: async (request) => {
      const token = new URL(request.url).searchParams.get("validationToken");
      return token === null
        ? new Response(null, { status: 202 })
        : new Response(token, { headers: { "Content-Type": "text/plain" } });
    },
  });
  const mailbox = fake.addMailbox("ann@firm.example");
  mailbox.addMessage({
    subject: "Receipts",
    from: "jo@home.example",
    to: ["ann@firm.example"],
    text: "Here they are.",
  });
  const bridge = await startHttpBridge(fake.fetch, (path) => `https://graph.microsoft.com${path}`);
  bridges.push(bridge);
  return { fake, bridge, token: fake.accessTokenFor("ann@firm.example") };
}

describe("graph adapter: an http base URL", () => {
  it("R9: an http:// base URL is refused without allowInsecure, as a validation error naming settings.baseUrl", async () => {
    const { bridge, token } = await fakeOnLoopback();
    let error: unknown;
    try {
      createGraphProvider({
        mailbox: "ann@firm.example",
        getAccessToken: async () => token,
        baseUrl: `${bridge.url}/v1.0`,
      });
    } catch (e) {
      error = e;
    }
    expect(ClientMailError.hasCode(error, "validation_failed")).toBe(true);
    expect((error as { issues: { field: string; expected: string }[] }).issues).toEqual([
      expect.objectContaining({ field: "settings.baseUrl", value: `${bridge.url}/v1.0` }),
    ]);
    // allowInsecure must be the boolean true: anything else is refused as well.
    expect(() =>
      createGraphProvider({
        mailbox: "ann@firm.example",
        getAccessToken: async () => token,
        baseUrl: `${bridge.url}/v1.0`,
        allowInsecure: "yes" as never,
      }),
    ).toThrow(ClientMailError);
  });

  it("R9 Y2: with allowInsecure, logged once, the provider syncs and registers push over plain http on loopback", async () => {
    const { fake, bridge, token } = await fakeOnLoopback();
    const logger = recordingLogger();
    const sent: string[] = [];
    const provider = createGraphProvider({
      mailbox: "ann@firm.example",
      getAccessToken: async () => token,
      baseUrl: `${bridge.url}/v1.0`,
      allowInsecure: true,
      logger,
      // The real fetch, over TCP; every URL it is given is kept.
      fetch: (input, init) => {
        sent.push(input instanceof Request ? input.url : String(input));
        return fetch(input, init);
      },
      push: { notificationUrl: "https://hooks.firm.example/graph" },
    });
    expect(logger.warnings).toEqual([
      [
        "graph API URL is not https (allowed by allowInsecure)",
        { provider: "graph", insecure: ["settings.baseUrl"] },
      ],
    ]);
    try {
      const subjects: string[] = [];
      for await (const page of provider.changes(undefined)) {
        subjects.push(...page.added.map((envelope) => envelope.subject));
        if (page.done) break;
      }
      expect(subjects).toEqual(["Receipts"]);
      const registrations = await provider.push!.subscribe();
      expect(registrations.map((r) => r.id).sort()).toEqual(
        fake
          .subscriptions()
          .map((s) => s.id)
          .sort(),
      );
      // Every request went to the configured root, over plain http — the delta and next links
      // Graph answered with (naming Microsoft's root) included: nothing left loopback.
      expect(sent.length).toBeGreaterThan(2);
      expect(sent.filter((url) => !url.startsWith(`${bridge.url}/v1.0/`))).toEqual([]);
    } finally {
      await provider.close();
    }
    // Logged when the provider was created, not per request.
    expect(logger.warnings).toHaveLength(1);
  });
});
