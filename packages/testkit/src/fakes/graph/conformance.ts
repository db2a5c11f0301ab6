/**
 * Runs a Graph provider through {@link providerConformance} against the Graph fake: the fixture
 * adapter puts raw messages into a fresh fake mailbox, deletes them by Message-ID, expires delta
 * tokens, and routes change notifications to the provider's webhook handler in-process.
 */
import { randomBytes } from "node:crypto";
import type { MailProvider } from "@clientmail/core/ports";
import type { ProviderFixture } from "../../provider-fixture.js";
import { createGraphFake, type GraphFake, type GraphFakeOptions } from "./fake.js";
import { stallableFetch } from "../../stallable-fetch.js";

/** What the fixture hands the provider factory. */
export interface GraphFixtureEnvironment {
  fake: GraphFake;
  /** Address of the fresh mailbox. */
  mailbox: string;
  /** The fake's `fetch` (behind a gate the fixture's `stall()` closes): pass it to the provider. */
  fetch: typeof fetch;
  /** Returns a valid token for `mailbox`. */
  getAccessToken: () => Promise<string>;
  /** Webhook URLs the fake delivers to the provider's handler (no network involved). */
  notificationUrl: string;
  lifecycleNotificationUrl: string;
  /** Page size the suite needs (at most 2). */
  pageSize: number;
}

/** A provider that can receive Graph change notifications. */
export type GraphFixtureProvider = MailProvider & { handleWebhook?(request: Request): Promise<Response> };

/**
 * Returns a `setup` for {@link providerConformance}: each call creates a fake with one fresh
 * mailbox and the provider `createProvider` builds for it.
 */
export function graphConformanceSetup(
  createProvider: (environment: GraphFixtureEnvironment) => GraphFixtureProvider,
  fakeOptions: GraphFakeOptions = {},
): () => Promise<ProviderFixture> {
  return async () => {
    const ref: { provider?: GraphFixtureProvider } = {};
    const fake = createGraphFake({
      ...fakeOptions,
      deliver: async (request) => {
        if (!ref.provider?.handleWebhook) return new Response(null, { status: 404 });
        return ref.provider.handleWebhook(request);
      },
    });
    const address = `owner.${randomBytes(5).toString("hex")}@firm.example`;
    const mailbox = fake.addMailbox(address);
    const token = fake.accessTokenFor(address);
    const gate = stallableFetch(fake.fetch);
    const provider = createProvider({
      fake,
      mailbox: address,
      fetch: gate.fetch,
      getAccessToken: async () => token,
      notificationUrl: "https://hooks.firm.example/graph/notifications",
      lifecycleNotificationUrl: "https://hooks.firm.example/graph/lifecycle",
      pageSize: 2,
    });
    ref.provider = provider;
    return {
      provider,
      appendMessage: async (raw, folder) => {
        mailbox.addRawMessage(raw, folder === "sent" ? "sentitems" : "inbox");
        await fake.flushNotifications();
      },
      deleteMessage: async (messageId) => {
        mailbox.deleteByMessageId(messageId);
        await fake.flushNotifications();
      },
      expireCursor: async () => mailbox.expireDeltaTokens(),
      close: async () => {
        gate.resume();
        await fake.flushNotifications();
      },
      stall: () => gate.stall(),
      resume: () => gate.resume(),
    };
  };
}
