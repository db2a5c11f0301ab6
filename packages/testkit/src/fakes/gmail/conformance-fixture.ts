import type { MailProvider } from "@clientmail/core/ports";
import type { ProviderFixture } from "../../provider-fixture.js";
import { createGmailFake, type GmailFake, type GmailFakeOptions } from "./fake.js";
import type { GmailFakeMailbox } from "./mailbox.js";
import { headerValue } from "./mime.js";
import { stallableFetch } from "../../stallable-fetch.js";

/** A provider that can take Gmail Pub/Sub pushes (the clientmail Gmail provider can). */
export type PushAwareProvider = MailProvider & { handlePushNotification?(body: unknown): boolean };

/** A fake Gmail mailbox ready for {@link providerConformance}, and the settings to reach it. */
export interface GmailConformanceBackend {
  fake: GmailFake;
  mailbox: GmailFakeMailbox;
  /**
   * Spread into the provider's settings: credentials for the fake's OAuth client, the fake's
   * fetch (behind a gate the fixture's `stall()` closes).
   */
  settings: {
    credentials: { clientId: string; clientSecret: string; refreshToken: string };
    emailAddress: string;
    fetch: typeof fetch;
  };
  /** A Pub/Sub topic name the fake accepts for `users.watch`. */
  topicName: string;
  /**
   * The fixture for `providerConformance`. Pushes from `users.watch` are relayed to the
   * provider's `handlePushNotification`, as the host's push endpoint would.
   */
  fixture(provider: PushAwareProvider): ProviderFixture;
}

/**
 * Creates a fake Gmail mailbox for the provider conformance suite.
 *
 * ```ts
 * providerConformance({
 *   name: "gmail (fake)",
 *   async setup() {
 *     const backend = createGmailConformanceBackend();
 *     const provider = createGmailProvider({ ...backend.settings, pageSize: 2, push: { topicName: backend.topicName } });
 *     return backend.fixture(provider);
 *   },
 * });
 * ```
 */
export function createGmailConformanceBackend(
  options: GmailFakeOptions & { address?: string } = {},
): GmailConformanceBackend {
  const fake = createGmailFake(options);
  const address = options.address ?? "owner@firm.example";
  const mailbox = fake.addUser(address);
  const gate = stallableFetch(fake.fetch);
  return {
    fake,
    mailbox,
    topicName: "projects/clientmail-test/topics/gmail",
    settings: {
      credentials: { ...fake.oauthClient, refreshToken: fake.refreshTokenOf(address)! },
      emailAddress: address,
      fetch: gate.fetch,
    },
    fixture(provider) {
      const unsubscribe = fake.onPush((push) => {
        provider.handlePushNotification?.(push);
      });
      return {
        provider,
        async appendMessage(raw, folder) {
          mailbox.addMessage({ raw, labelIds: folder === "sent" ? ["SENT"] : ["INBOX", "UNREAD"] });
        },
        async deleteMessage(messageId) {
          for (const message of [...mailbox.messages.values()]) {
            if (headerValue(message.headers, "Message-ID")?.trim() === messageId)
              mailbox.deleteMessage(message.id);
          }
        },
        async expireCursor() {
          mailbox.expireHistory();
        },
        async close() {
          gate.resume();
          unsubscribe();
        },
        stall: () => gate.stall(),
        resume: () => gate.resume(),
      };
    },
  };
}
