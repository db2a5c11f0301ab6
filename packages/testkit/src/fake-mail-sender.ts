/**
 * A test double of the {@link MailSender} port — clearly a fake, not a provider: it records every
 * delivery, keeps a "sent folder" that {@link MailSender.findSent} searches, and can fail or
 * "crash" at a chosen point of a submission (before the server accepted the message, or after it
 * accepted it and before the caller heard back). With a {@link MemoryMailbox}, each delivery also
 * appears in that mailbox's `Sent` folder, so a sync brings the provider's copy back (S5).
 *
 * It passes {@link outboxSenderContract}, the contract every sender keeps.
 */
import { ClientMailError, type EmailAddress } from "@clientmail/core";
import type {
  CallOptions,
  MailSender,
  OutgoingMessage,
  SendReceipt,
  SentLookup,
} from "@clientmail/core/ports";
import type { MemoryMailbox } from "./memory-mailbox.js";

/** Where a scripted failure strikes. */
export type FakeSendPoint = "before_accept" | "after_accept";

/** A scripted failure: the error thrown at `point`. */
export interface FakeSendFault {
  point: FakeSendPoint;
  error: unknown;
}

/** An error that stands for the sending process dying: nothing after it runs. */
export class SimulatedCrash extends Error {
  constructor(where: string) {
    super(`simulated crash ${where}`);
    this.name = "SimulatedCrash";
  }
}

/** Settings of {@link FakeMailSender}. */
export interface FakeMailSenderSettings {
  /** The mailbox's own address; deliveries from another address are refused like a provider would. */
  address: string;
  /** Each delivery is appended to this mailbox's `Sent` folder, as the provider's copy. */
  mailbox?: MemoryMailbox | undefined;
  /** True when a delivery must not (yet) be visible to `findSent`: a sent folder that lags. */
  sentFolderLags?: (() => boolean) | undefined;
}

const addressOf = (a: { address: string; name?: string | undefined }): EmailAddress =>
  a.name ? { address: a.address, name: a.name } : { address: a.address };

/**
 * The header block of a message as a naive serialiser writes it: `Name: value` lines, values
 * copied verbatim. A CR or LF that reached a header value would show here as an extra line, so
 * tests can assert that a message has exactly the intended headers.
 */
export function naiveHeaderBlock(message: OutgoingMessage): string {
  const list = (addresses: OutgoingMessage["to"]) =>
    addresses.map((a) => (a.name ? `"${a.name}" <${a.address}>` : `<${a.address}>`)).join(", ");
  const lines = [
    `From: ${list([message.from])}`,
    `To: ${list(message.to)}`,
    ...(message.cc.length > 0 ? [`Cc: ${list(message.cc)}`] : []),
    `Subject: ${message.subject}`,
    `Message-ID: ${message.messageId}`,
    ...(message.inReplyTo ? [`In-Reply-To: ${message.inReplyTo}`] : []),
    ...(message.references ? [`References: ${message.references}`] : []),
    `Date: ${message.date.toUTCString()}`,
    ...message.attachments.map((a) => `X-Attachment: ${a.filename}; ${a.contentType}`),
  ];
  return lines.join("\r\n");
}

/** The fake sender. See the module comment. */
export class FakeMailSender implements MailSender {
  /** Every message the "server" accepted, in order; repeats included. */
  readonly deliveries: OutgoingMessage[] = [];
  /** Message-IDs in the sent folder, with the provider id of the copy. */
  private readonly sent = new Map<string, { providerId: string; at: Date }>();
  private readonly faults: FakeSendFault[] = [];
  readonly calls = { send: 0, findSent: 0, close: 0 };
  closed = false;

  constructor(private readonly settings: FakeMailSenderSettings) {}

  /** Scripts the next submission to fail at `point` with `error`. */
  failNext(point: FakeSendPoint, error: unknown): this {
    this.faults.push({ point, error });
    return this;
  }

  /** How many times the message with this Message-ID was delivered. */
  deliveriesOf(messageId: string): number {
    return this.deliveries.filter((d) => d.messageId === messageId).length;
  }

  async send(message: OutgoingMessage, options: CallOptions = {}): Promise<SendReceipt> {
    this.calls.send += 1;
    if (this.closed) throw new ClientMailError("transient", "The sender was closed");
    if (options.signal?.aborted) throw new ClientMailError("transient", "Aborted");
    if (message.from.address !== this.settings.address)
      throw new ClientMailError("permission_denied", "This mailbox cannot send from that address", {
        details: { from: message.from.address },
      });
    const fault = this.faults[0];
    if (fault?.point === "before_accept") {
      this.faults.shift();
      throw fault.error;
    }
    this.deliveries.push(structuredClone(message));
    const providerId = `sent-${this.deliveries.length}`;
    if (!this.settings.sentFolderLags?.()) {
      this.sent.set(message.messageId, { providerId, at: message.date });
    }
    this.settings.mailbox?.append({
      folder: "Sent",
      messageId: message.messageId,
      inReplyTo: message.inReplyTo ? [message.inReplyTo] : [],
      references: message.references ? [message.references] : [],
      from: [addressOf(message.from)],
      to: message.to.map(addressOf),
      cc: message.cc.map(addressOf),
      bcc: message.bcc.map(addressOf),
      subject: message.subject,
      date: message.date,
      ...(message.text === undefined ? {} : { text: message.text }),
      ...(message.html === undefined ? {} : { html: message.html }),
    });
    if (fault?.point === "after_accept") {
      this.faults.shift();
      throw fault.error;
    }
    return { messageId: message.messageId, providerId, from: message.from.address };
  }

  async findSent(
    messageId: string,
    options: CallOptions & { since?: Date | undefined } = {},
  ): Promise<SentLookup> {
    this.calls.findSent += 1;
    if (this.closed) throw new ClientMailError("transient", "The sender was closed");
    const copy = this.sent.get(messageId);
    if (!copy || (options.since && copy.at.getTime() < options.since.getTime())) return { found: false };
    return { found: true, messageId, providerId: copy.providerId };
  }

  async close(): Promise<void> {
    this.calls.close += 1;
    this.closed = true;
  }
}
