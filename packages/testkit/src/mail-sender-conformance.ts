/**
 * The conformance suite every {@link MailSender} runs (SMTP into a real Dovecot, Gmail and Graph
 * against their HTTP fakes, and any third-party sender).
 *
 * ```ts
 * mailSenderConformance({
 *   name: "gmail (fake)",
 *   async setup() {
 *     // a sender for one mailbox, a recipient whose inbox the fixture reads, a parent to reply to
 *     return fixture;
 *   },
 * });
 * ```
 *
 * The suite checks what arrived at the recipient and what sits in the sender's sent mail against
 * what was composed: one delivery per send (S4), the Message-ID the receipt reports is the one
 * delivered, `findSent` finds a sent message by its composed Message-ID even where the provider
 * rewrote it (S4), replies carry In-Reply-To and References and join the parent's thread (S6),
 * and header-unsafe input is refused before anything is sent.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ClientMailError } from "@clientmail/core";
import type { MailSender, OutgoingMessage } from "@clientmail/core/ports";
import { headersOfRaw } from "./raw-headers.js";

/** A message the fixture put in the sender's mailbox, for the suite to reply to. */
export interface SenderParent {
  messageId: string;
  subject: string;
  /** The provider's ids of the parent (Gmail id and thread id; Graph id and conversation). */
  providerId?: string | undefined;
  threadId?: string | undefined;
}

/** What a sender's test file gives the suite; a new fixture is set up for every test. */
export interface SenderFixture {
  sender: MailSender;
  /** The address the mailbox sends from. */
  from: string;
  /** A recipient whose delivered mail {@link delivered} reads. */
  recipient: string;
  /** A second recipient, used as Bcc. */
  bccRecipient: string;
  /** Raw sources delivered to `address` so far (CRLF), oldest first. */
  delivered(address: string): Promise<Buffer[]>;
  /** Raw sources in the sender's sent mail, oldest first. */
  sentCopies(): Promise<Buffer[]>;
  /** Puts a message from the recipient into the sender's inbox and returns it, to reply to. */
  parent(): Promise<SenderParent>;
  /** The thread id the provider reports for a sent reply, when it reports one. */
  threadOfSent?(providerId: string): Promise<string | undefined>;
  close(): Promise<void>;
}

/** Options of {@link mailSenderConformance}. */
export interface MailSenderConformanceOptions {
  name: string;
  setup(): Promise<SenderFixture>;
  /** When set, the suite is skipped with this reason (e.g. no Dovecot on this machine). */
  skip?: string | undefined;
  /** Per-test timeout. Default 30 s. */
  timeoutMs?: number;
}

function header(raw: Buffer, name: string): string | undefined {
  return headersOfRaw(raw).get(name.toLowerCase())?.[0];
}

function uniqueId(): string {
  return `<conformance-${randomBytes(6).toString("hex")}@firm.example>`;
}

function compose(fixture: SenderFixture, overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    messageId: uniqueId(),
    from: { address: fixture.from, name: "Anna Partner" },
    to: [{ address: fixture.recipient, name: "Client" }],
    cc: [],
    bcc: [],
    subject: `Engagement letter ${randomBytes(3).toString("hex")}`,
    text: "Please find the letter attached.",
    attachments: [],
    date: new Date(Math.floor(Date.now() / 1000) * 1000),
    ...overrides,
  };
}

function carrying(raws: Buffer[], messageId: string): Buffer[] {
  return raws.filter((raw) => header(raw, "message-id")?.toLowerCase() === messageId.toLowerCase());
}

/** Registers the sender conformance tests (see the module description). */
export function mailSenderConformance(options: MailSenderConformanceOptions): void {
  const timeout = options.timeoutMs ?? 30_000;
  const withFixture = (run: (fixture: SenderFixture) => Promise<void>) => async () => {
    const fixture = await options.setup();
    try {
      await run(fixture);
    } finally {
      await fixture.sender.close();
      await fixture.close();
    }
  };

  describe.skipIf(options.skip !== undefined)(`MailSender conformance: ${options.name}`, () => {
    it(
      "S4: one send delivers one copy carrying the receipt's Message-ID, and the sent copy is in sent mail",
      withFixture(async (fixture) => {
        const message = compose(fixture);
        const receipt = await fixture.sender.send(message);
        expect(receipt.from).toBe(fixture.from);
        const delivered = carrying(await fixture.delivered(fixture.recipient), receipt.messageId);
        expect(delivered).toHaveLength(1);
        expect(header(delivered[0]!, "subject")).toBe(message.subject);
        expect(carrying(await fixture.sentCopies(), receipt.messageId)).toHaveLength(1);
      }),
      timeout,
    );

    it(
      "S4: findSent finds a sent message by its composed Message-ID, even where the provider rewrote it",
      withFixture(async (fixture) => {
        const before = new Date(Date.now() - 60_000);
        const message = compose(fixture);
        const receipt = await fixture.sender.send(message);
        const lookup = await fixture.sender.findSent(message.messageId, { since: before });
        expect(lookup).toMatchObject({ found: true, messageId: receipt.messageId });
        expect(await fixture.sender.findSent(uniqueId(), { since: before })).toEqual({ found: false });
      }),
      timeout,
    );

    it(
      "S6: a reply carries In-Reply-To and References naming the parent and joins its thread",
      withFixture(async (fixture) => {
        const parent = await fixture.parent();
        const message = compose(fixture, {
          subject: `Re: ${parent.subject}`,
          inReplyTo: parent.messageId,
          references: parent.messageId,
          replyToProvider: { messageId: parent.providerId, threadId: parent.threadId },
        });
        const receipt = await fixture.sender.send(message);
        const [delivered] = carrying(await fixture.delivered(fixture.recipient), receipt.messageId);
        expect(delivered).toBeDefined();
        expect(header(delivered!, "in-reply-to")).toBe(parent.messageId);
        expect(header(delivered!, "references")?.split(/\s+/)).toContain(parent.messageId);
        if (parent.threadId !== undefined && receipt.providerThreadId !== undefined)
          expect(receipt.providerThreadId).toBe(parent.threadId);
      }),
      timeout,
    );

    it(
      "S1: Bcc recipients receive the message without being shown to the others",
      withFixture(async (fixture) => {
        const message = compose(fixture, { bcc: [{ address: fixture.bccRecipient }] });
        const receipt = await fixture.sender.send(message);
        const [toCopy] = carrying(await fixture.delivered(fixture.recipient), receipt.messageId);
        const [bccCopy] = carrying(await fixture.delivered(fixture.bccRecipient), receipt.messageId);
        expect(bccCopy).toBeDefined();
        expect(toCopy).toBeDefined();
        expect(toCopy!.toString("utf8")).not.toContain(fixture.bccRecipient);
      }),
      timeout,
    );

    it(
      "S6: a subject or name with CR/LF is refused with validation_failed and nothing is sent",
      withFixture(async (fixture) => {
        const before = (await fixture.delivered(fixture.recipient)).length;
        for (const overrides of [
          { subject: "Invoice\r\nBcc: attacker@evil.example" },
          { from: { address: fixture.from, name: "Anna\nBcc: attacker@evil.example" } },
          { messageId: "<a@b>\r\nBcc: attacker@evil.example" },
        ] satisfies Partial<OutgoingMessage>[]) {
          const error = await fixture.sender.send(compose(fixture, overrides)).catch((e: unknown) => e);
          expect(ClientMailError.hasCode(error, "validation_failed")).toBe(true);
        }
        expect(await fixture.delivered(fixture.recipient)).toHaveLength(before);
      }),
      timeout,
    );

    it(
      "close is idempotent and a closed sender refuses to send",
      withFixture(async (fixture) => {
        await fixture.sender.close();
        await fixture.sender.close();
        await expect(fixture.sender.send(compose(fixture))).rejects.toSatisfy((error: unknown) =>
          ClientMailError.isInstance(error),
        );
      }),
      timeout,
    );
  });
}
