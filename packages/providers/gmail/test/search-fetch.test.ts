import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fetchedMessages } from "@clientmail/testkit";
import { buildParticipantQueries } from "../src/index.js";
import { collect, connect, raw } from "./harness.js";

async function text(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts).toString("utf8");
}

describe("Gmail provider: search", () => {
  it("Y5: finds messages with any participant (from, to, cc, bcc) of the given addresses, within dates", async () => {
    const { provider, mailbox } = connect();
    const jan = new Date(Date.UTC(2026, 0, 3));
    const may = new Date(Date.UTC(2026, 4, 3));
    const fromClient = mailbox.addMessage({ raw: raw({ from: "cfo@acme.com", date: may }) });
    const toClient = mailbox.addMessage({
      raw: raw({ from: "ann@firm.com", to: "ceo@beta.com", date: may }),
      labelIds: ["SENT"],
    });
    const ccClient = mailbox.addMessage({ raw: raw({ from: "x@other.com", cc: "cfo@acme.com", date: may }) });
    const bccClient = mailbox.addMessage({
      raw: raw({ from: "ann@firm.com", to: "x@other.com", bcc: "ceo@beta.com", date: may }),
      labelIds: ["SENT"],
    });
    mailbox.addMessage({ raw: raw({ from: "cfo@acme.com", date: jan }) });
    mailbox.addMessage({ raw: raw({ from: "friend@home.com", date: may }) });
    mailbox.addMessage({ raw: raw({ from: "cfo@acme.com", date: may }), labelIds: ["DRAFT"] });
    const batches = await collect(
      provider.search({ addresses: ["cfo@acme.com", "ceo@beta.com"], since: new Date(Date.UTC(2026, 2, 1)) }),
    );
    const ids = batches
      .flat()
      .map((envelope) => envelope.providerId)
      .sort();
    expect(ids).toEqual([fromClient.id, toClient.id, ccClient.id, bccClient.id].sort());
  });

  it("Y5: chunks the addresses to the query-length limit and never repeats a message found by two chunks", async () => {
    const addresses = Array.from({ length: 40 }, (_, n) => `client${n}@acme.com`);
    const queries = buildParticipantQueries(addresses, { maxLength: 400 });
    expect(queries.length).toBeGreaterThan(1);
    for (const q of queries) expect(q.length).toBeLessThanOrEqual(400);
    expect(queries.join(" ")).toContain("bcc:client39@acme.com");
    const { provider, mailbox, fake } = connect({
      fake: { maxQueryLength: 400 },
      provider: { maxQueryLength: 400 },
    });
    const both = mailbox.addMessage({ raw: raw({ from: "client0@acme.com", to: "client39@acme.com" }) });
    const single = mailbox.addMessage({ raw: raw({ from: "client20@acme.com" }) });
    const ids = (await collect(provider.search({ addresses }))).flat().map((envelope) => envelope.providerId);
    expect(ids.sort()).toEqual([both.id, single.id].sort());
    expect(fake.callCount("users.messages.list")).toBe(queries.length);
    expect(fake.calls.filter((call) => call.status === 400)).toEqual([]);
  });

  it("invalidQuery: a q over Gmail's limit is refused and surfaces as a non-retryable error", async () => {
    const { provider, mailbox } = connect({
      fake: { maxQueryLength: 100 },
      provider: { maxQueryLength: 1500 },
    });
    mailbox.addMessage({ raw: raw() });
    const addresses = Array.from({ length: 10 }, (_, n) => `client${n}@acme.com`);
    const error = (await collect(provider.search({ addresses })).catch((caught: unknown) => caught)) as {
      code: string;
      retryable: boolean;
    };
    expect(error.code).toBe("internal");
    expect(error.retryable).toBe(false);
  });
});

describe("Gmail provider: fetch", () => {
  it("F1: fetches raw content only for the requested ids and parses text, html and attachments", async () => {
    const { provider, mailbox, fake } = connect();
    const filed = mailbox.addMessage({
      raw: raw({
        subject: "Invoice",
        messageId: "<inv@acme.com>",
        text: "Please find the invoice attached.",
        html: "<p>Please find the invoice attached.</p>",
        attachments: [{ filename: "invoice.pdf", contentType: "application/pdf", content: "%PDF-1.4 fake" }],
      }),
    });
    mailbox.addMessage({ raw: raw({ subject: "personal" }) });
    const messages = await fetchedMessages(provider.fetch([filed.id, "ffffffff00000000"]));
    expect(messages).toHaveLength(1);
    const [message] = messages;
    expect(message!.envelope).toMatchObject({
      providerId: filed.id,
      messageId: "<inv@acme.com>",
      subject: "Invoice",
    });
    expect(message!.text).toContain("Please find the invoice attached.");
    expect(message!.html).toContain("<p>Please find the invoice attached.</p>");
    expect(message!.attachments).toHaveLength(1);
    const attachment = message!.attachments[0]!;
    expect(attachment).toMatchObject({ filename: "invoice.pdf", contentType: "application/pdf", size: 13 });
    expect(attachment.contentHash).toBe(createHash("sha256").update("%PDF-1.4 fake").digest("hex"));
    expect(await text(attachment.content())).toBe("%PDF-1.4 fake");
    const gets = fake.calls.filter((call) => call.method === "users.messages.get");
    expect(gets).toHaveLength(2);
    expect(gets.filter((call) => call.status === 404)).toHaveLength(1);
  });

  it("F1: with raw prefetch, a search followed by fetch of its matches costs one messages.get per filed message", async () => {
    const { provider, mailbox, fake } = connect({ provider: { searchPrefetch: "raw" } });
    for (let n = 0; n < 30; n += 1)
      mailbox.addMessage({ raw: raw({ from: n % 3 === 0 ? "cfo@acme.com" : `other${n}@home.com` }) });
    const envelopes = (await collect(provider.search({ addresses: ["cfo@acme.com"] }))).flat();
    expect(envelopes).toHaveLength(10);
    const fetched = await fetchedMessages(provider.fetch(envelopes.map((envelope) => envelope.providerId)));
    expect(fetched.map((message) => message.envelope.providerId).sort()).toEqual(
      envelopes.map((e) => e.providerId).sort(),
    );
    expect(fake.callCount("users.messages.get")).toBe(10);
    expect(fake.unitsSpent()).toBe(1 * 5 + 10 * 5);
  });

  it("F1: with metadata prefetch, search reads headers only and fetch reads the source", async () => {
    const { provider, mailbox, fake } = connect({ provider: { searchPrefetch: "metadata" } });
    const client = mailbox.addMessage({ raw: raw({ text: "secret body" }) });
    const envelopes = (await collect(provider.search({ addresses: ["cfo@acme.com"] }))).flat();
    expect(envelopes.map((envelope) => envelope.providerId)).toEqual([client.id]);
    expect(fake.callCount("users.messages.get")).toBe(1);
    const [message] = await fetchedMessages(provider.fetch([client.id]));
    expect(message!.text).toContain("secret body");
    expect(fake.callCount("users.messages.get")).toBe(2);
  });

  it("invalid id (400 invalidArgument from messages.get): an id Gmail never issued is skipped like a deleted one", async () => {
    const { provider, mailbox, fake } = connect();
    const real = mailbox.addMessage({ raw: raw() });
    const single = await fetchedMessages(provider.fetch(["not-a-gmail-id"]));
    expect(single).toEqual([]);
    const mixed = await fetchedMessages(provider.fetch([real.id, "not-a-gmail-id"]));
    expect(mixed.map((message) => message.envelope.providerId)).toEqual([real.id]);
    expect(fake.calls.filter((call) => call.status === 400)).toHaveLength(2);
  });

  it("F1: a prefetched source not fetched within 10 minutes is dropped and read again if asked for later", async () => {
    const { provider, mailbox, fake, time } = connect({ provider: { searchPrefetch: "raw" } });
    const client = mailbox.addMessage({ raw: raw({ text: "late" }) });
    await collect(provider.search({ addresses: ["cfo@acme.com"] }));
    time.advance(11 * 60_000);
    const [message] = await fetchedMessages(provider.fetch([client.id]));
    expect(message!.text).toContain("late");
    expect(fake.callCount("users.messages.get")).toBe(2);
  });
});
