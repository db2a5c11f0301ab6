import { ClientMailError, RateLimitedError } from "@clientmail/core";
import type { OutgoingMessage } from "@clientmail/core/ports";
import { SendPacer } from "@clientmail/provider-utils";
import {
  buildRawMessage,
  createGmailFake,
  mailSendingLimitFailure,
  type GmailFakeOptions,
} from "@clientmail/testkit";
import { mailSenderConformance } from "@clientmail/testkit/vitest";
import { describe, expect, it } from "vitest";
import { createGmailSender, type GmailSenderSettings } from "../src/index.js";

const ann = "ann@firm.com";
const client = "bob@client.example";
const assistant = "carol@client.example";

function connect(options: { fake?: GmailFakeOptions; sender?: Partial<GmailSenderSettings> } = {}) {
  const fake = createGmailFake(options.fake);
  const mailbox = fake.addUser(ann);
  fake.addUser(client);
  fake.addUser(assistant);
  const sender = createGmailSender({
    credentials: {
      clientId: fake.oauthClient.clientId,
      clientSecret: fake.oauthClient.clientSecret,
      refreshToken: fake.refreshTokenOf(ann)!,
    },
    emailAddress: ann,
    fetch: fake.fetch,
    sleep: async () => undefined,
    ...options.sender,
  });
  return { fake, mailbox, sender };
}

function message(overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    messageId: "<s-1@firm.example>",
    from: { address: ann, name: "Ann" },
    to: [{ address: client }],
    cc: [],
    bcc: [],
    subject: "Engagement letter",
    text: "Hello",
    attachments: [],
    date: new Date("2026-11-30T09:00:00Z"),
    ...overrides,
  };
}

mailSenderConformance({
  name: "gmail (fake)",
  async setup() {
    const { fake, mailbox, sender } = connect();
    const raws = (address: string) =>
      [...(fake.mailbox(address)?.messages.values() ?? [])]
        .filter((m) => !m.labelIds.includes("SENT"))
        .sort((a, b) => a.internalDate - b.internalDate)
        .map((m) => m.raw);
    return {
      sender,
      from: ann,
      recipient: client,
      bccRecipient: assistant,
      delivered: async (address) => raws(address),
      sentCopies: async () =>
        [...mailbox.messages.values()].filter((m) => m.labelIds.includes("SENT")).map((m) => m.raw),
      async parent() {
        const messageId = `<parent-${Math.random().toString(36).slice(2)}@client.example>`;
        const added = mailbox.addMessage({
          raw: buildRawMessage({ from: client, to: ann, subject: "Engagement", messageId }),
        });
        return { messageId, subject: "Engagement", providerId: added.id, threadId: added.threadId };
      },
      close: async () => undefined,
    };
  },
});

describe("Gmail sender", () => {
  it("S5: the receipt reports the Message-ID Gmail gave the message, and the sent copy carries the SENT label", async () => {
    const { mailbox, sender } = connect();
    const receipt = await sender.send(message());
    expect(receipt.messageId).toMatch(/^<CA\+[a-z0-9]+@mail\.gmail\.com>$/);
    expect(receipt.messageId).not.toBe("<s-1@firm.example>");
    const copy = mailbox.messages.get(receipt.providerId!)!;
    expect(copy.labelIds).toEqual(["SENT"]);
    expect(receipt.providerThreadId).toBe(copy.threadId);
  });

  it("S4: with a Message-ID kept by the server, findSent answers from rfc822msgid: alone", async () => {
    const { fake, sender } = connect({ fake: { send: { keepsMessageId: true } } });
    const receipt = await sender.send(message());
    expect(receipt.messageId).toBe("<s-1@firm.example>");
    const listsBefore = fake.callCount("users.messages.list");
    expect(await sender.findSent("<s-1@firm.example>")).toMatchObject({
      found: true,
      messageId: "<s-1@firm.example>",
    });
    expect(fake.callCount("users.messages.list") - listsBefore).toBe(1);
  });

  it("S5: a From that is not an accepted send-as alias is reported as the address Gmail used", async () => {
    const { mailbox, sender } = connect();
    mailbox.addAlias("billing@firm.com");
    const alias = await sender.send(
      message({ messageId: "<s-2@firm.example>", from: { address: "billing@firm.com" } }),
    );
    expect(alias.from).toBe("billing@firm.com");
    const rewritten = await sender.send(
      message({ messageId: "<s-3@firm.example>", from: { address: "ceo@firm.com" } }),
    );
    expect(rewritten.from).toBe(ann);
  });

  it("S4: Gmail's mail-sending limit is rate_limited with its Retry after time, and the send is not repeated", async () => {
    const { fake, sender } = connect();
    const retryAt = new Date(Date.now() + 3_600_000);
    fake.failNext("users.messages.send", 1, mailSendingLimitFailure(retryAt));
    const error = await sender.send(message()).catch((e: unknown) => e);
    expect(ClientMailError.hasCode(error, "rate_limited")).toBe(true);
    expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(3_500_000);
    expect(fake.callCount("users.messages.send")).toBe(1);
  });

  it("S1: the fake's daily sending limit answers Gmail's 429 (Mail sending); the sender reports when to retry", async () => {
    let now = Date.UTC(2026, 10, 30, 9);
    const clock = { now: () => new Date(now) };
    const { sender } = connect({ fake: { clock, send: { dailyLimit: 2 } }, sender: { clock } });
    await sender.send(message({ messageId: "<d-1@firm.example>" }));
    now += 60_000;
    await sender.send(message({ messageId: "<d-2@firm.example>" }));
    const error = await sender.send(message({ messageId: "<d-3@firm.example>" })).catch((e: unknown) => e);
    expect(ClientMailError.hasCode(error, "rate_limited")).toBe(true);
    expect((error as RateLimitedError).retryAfterMs).toBe(86_400_000 - 60_000);
  });

  it("S4: a 5xx on send is transient and not retried inside the call (the outbox looks it up first)", async () => {
    const { fake, sender } = connect();
    fake.failNext("users.messages.send", 1, "backendError");
    const error = await sender.send(message()).catch((e: unknown) => e);
    expect(ClientMailError.hasCode(error, "transient")).toBe(true);
    expect(fake.callCount("users.messages.send")).toBe(1);
  });

  it("a message over Gmail's size limit (413) and an invalid recipient (400) are validation_failed", async () => {
    const { sender } = connect({ fake: { send: { maxMessageBytes: 2_000 } } });
    const big = await sender
      .send(
        message({
          attachments: [
            { filename: "a.pdf", contentType: "application/pdf", content: new Uint8Array(4_000) },
          ],
        }),
      )
      .catch((e: unknown) => e);
    expect(ClientMailError.hasCode(big, "validation_failed")).toBe(true);
    expect((big as ClientMailError).message).toContain("size limit");
    const invalid = await sender
      .send(message({ to: [{ address: "someone@nowhere.invalid" }] }))
      .catch((e: unknown) => e);
    expect(ClientMailError.hasCode(invalid, "validation_failed")).toBe(true);
  });

  it("S1: the mailbox's sending limit refuses the next send before any request, with retryAfterMs", async () => {
    let now = Date.UTC(2026, 10, 30, 9);
    const clock = { now: () => new Date(now) };
    const { fake, sender } = connect({
      sender: { clock, sendPacer: new SendPacer([{ windowMs: 86_400_000, maxMessages: 2 }], clock) },
    });
    await sender.send(message({ messageId: "<p-1@firm.example>" }));
    now += 1_000;
    await sender.send(message({ messageId: "<p-2@firm.example>" }));
    const error = await sender.send(message({ messageId: "<p-3@firm.example>" })).catch((e: unknown) => e);
    expect(ClientMailError.hasCode(error, "rate_limited")).toBe(true);
    expect((error as RateLimitedError).retryAfterMs).toBe(86_400_000 - 1_000);
    expect(fake.callCount("users.messages.send")).toBe(2);
  });
});
