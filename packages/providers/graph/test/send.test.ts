import { ClientMailError, RateLimitedError } from "@clientmail/core";
import type { OutgoingMessage } from "@clientmail/core/ports";
import { SendPacer } from "@clientmail/provider-utils";
import { createGraphFake, graphFaults, type GraphFakeOptions } from "@clientmail/testkit";
import { mailSenderConformance } from "@clientmail/testkit/vitest";
import { describe, expect, it } from "vitest";
import { createGraphSender, type GraphSenderSettings } from "../src/index.js";
import { manualClock, uniqueAddress } from "./harness.js";

function connect(options: { fake?: GraphFakeOptions; sender?: Partial<GraphSenderSettings> } = {}) {
  const clock = manualClock(new Date());
  const fake = createGraphFake({ clock, mailboxRequestLimit: false, ...options.fake });
  const address = uniqueAddress();
  const client = uniqueAddress("bob").replace("@firm.example", "@client.example");
  const assistant = uniqueAddress("carol").replace("@firm.example", "@client.example");
  const mailbox = fake.addMailbox(address);
  fake.addMailbox(client);
  fake.addMailbox(assistant);
  const token = fake.accessTokenFor(address);
  const sender = createGraphSender({
    mailbox: address,
    getAccessToken: async () => token,
    fetch: fake.fetch,
    clock,
    sleep: async () => undefined,
    ...options.sender,
  });
  return { fake, mailbox, sender, address, client, assistant, clock };
}

function raws(fake: ReturnType<typeof connect>["fake"], address: string, folder: string): Buffer[] {
  const handle = fake.mailbox(address);
  return handle.messageIds(folder).map((id) => {
    const mime = handle.message(id)!.mime;
    return Buffer.from(typeof mime === "string" ? mime : Buffer.from(mime).toString("utf8"));
  });
}

mailSenderConformance({
  name: "graph (fake)",
  async setup() {
    const { fake, mailbox, sender, address, client, assistant } = connect();
    return {
      sender,
      from: address,
      recipient: client,
      bccRecipient: assistant,
      delivered: async (to) => raws(fake, to, "inbox"),
      sentCopies: async () => raws(fake, address, "sentitems"),
      async parent() {
        const messageId = `<parent-${Math.random().toString(36).slice(2)}@client.example>`;
        const id = mailbox.addMessage({ from: client, to: [address], subject: "Engagement", messageId });
        return {
          messageId,
          subject: "Engagement",
          providerId: id,
          threadId: mailbox.message(id)!.conversationId,
        };
      },
      close: async () => undefined,
    };
  },
});

function message(from: string, to: string, overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    messageId: `<g-${Math.random().toString(36).slice(2)}@firm.example>`,
    from: { address: from },
    to: [{ address: to }],
    cc: [],
    bcc: [],
    subject: "Engagement letter",
    text: "Hello",
    attachments: [],
    date: new Date("2026-11-30T09:00:00Z"),
    ...overrides,
  };
}

describe("Graph sender", () => {
  it("S4, S5: a MIME send keeps the composed Message-ID; findSent finds it with internetMessageId eq", async () => {
    const { fake, sender, address, client } = connect();
    const m = message(address, client);
    const receipt = await sender.send(m);
    expect(receipt.messageId).toBe(m.messageId);
    expect(await sender.findSent(m.messageId)).toMatchObject({ found: true, messageId: m.messageId });
    const filters = fake.requests
      .filter((r) => r.operation === "listMessages")
      .map((r) => decodeURIComponent(r.url));
    expect(filters[0]).toContain(`internetMessageId eq '${m.messageId}'`);
  });

  it("S6: a reply goes through createReply + send: Exchange's own Message-ID, found by the extended property", async () => {
    const { fake, mailbox, sender, address, client } = connect();
    const parentId = mailbox.addMessage({
      from: client,
      to: [address],
      subject: "Engagement",
      messageId: "<p@client.example>",
    });
    const m = message(address, client, {
      subject: "RE: Engagement",
      inReplyTo: "<p@client.example>",
      references: "<p@client.example>",
      replyToProvider: { messageId: parentId },
    });
    const receipt = await sender.send(m);
    expect(receipt.messageId).toMatch(/@fake\.prod\.outlook\.com>$/);
    expect(receipt.providerThreadId).toBe(mailbox.message(parentId)!.conversationId);
    // The sent copy is read back for the Date Exchange gave it (S5).
    expect(fake.requests.map((r) => r.operation)).toEqual(["createReply", "sendDraft", "getMessage"]);
    expect(receipt.date).toBeInstanceOf(Date);
    const lookup = await sender.findSent(m.messageId);
    expect(lookup).toMatchObject({ found: true, messageId: receipt.messageId });
  });

  it("S4: 429 on sendMail is rate_limited with Retry-After and not repeated", async () => {
    const { fake, sender, address, client } = connect();
    fake.failNext(1, "sendMail", graphFaults.tooManyRequests(7));
    const error = await sender.send(message(address, client)).catch((e: unknown) => e);
    expect(ClientMailError.hasCode(error, "rate_limited")).toBe(true);
    expect((error as RateLimitedError).retryAfterMs).toBe(7_000);
    expect(fake.requests.filter((r) => r.operation === "sendMail")).toHaveLength(1);
  });

  it("413 ErrorMessageSizeExceeded and ErrorInvalidRecipients are validation_failed", async () => {
    const { sender, address, client } = connect({ fake: { maxMessageBytes: 2_000 } });
    const big = await sender
      .send(
        message(address, client, {
          attachments: [
            { filename: "a.pdf", contentType: "application/pdf", content: new Uint8Array(4_000) },
          ],
        }),
      )
      .catch((e: unknown) => e);
    expect(ClientMailError.hasCode(big, "validation_failed")).toBe(true);
    const invalid = await sender.send(message(address, "x@nowhere.invalid")).catch((e: unknown) => e);
    expect(ClientMailError.hasCode(invalid, "validation_failed")).toBe(true);
    expect((invalid as ClientMailError).message).toContain("recipients");
  });

  it("S1: 30 messages a minute: the 31st is refused before any request with retryAfterMs", async () => {
    const { fake, sender, address, client, clock } = connect();
    const limited = createGraphSender({
      mailbox: address,
      getAccessToken: async () => fake.accessTokenFor(address),
      fetch: fake.fetch,
      clock,
      sendPacer: new SendPacer([{ windowMs: 60_000, maxMessages: 30 }], clock),
    });
    for (let i = 0; i < 30; i += 1) {
      await limited.send(message(address, client));
      clock.advance(1_000);
    }
    const error = await limited.send(message(address, client)).catch((e: unknown) => e);
    expect(ClientMailError.hasCode(error, "rate_limited")).toBe(true);
    expect((error as RateLimitedError).retryAfterMs).toBe(30_000);
    expect(fake.requests.filter((r) => r.operation === "sendMail")).toHaveLength(30);
    await sender.close();
  });
});
