/**
 * `MailSender` conformance: the contract the outbox worker relies on (S4, S5), for any sender —
 * the testkit's fake and the SMTP, Gmail and Graph senders alike.
 *
 * - `send` keeps the composed Message-ID (or reports the one the provider used) and the From;
 * - `findSent` finds a sent message by that Message-ID, and answers `found: false` for one that
 *   was never sent or was sent before `since`;
 * - `close` is idempotent.
 */
import { describe, expect, it } from "vitest";
import type { MailSender, OutgoingMessage } from "@clientmail/core/ports";

/** What the suite needs: a fresh sender of a mailbox whose address is `address`. */
export interface OutboxSenderContractOptions {
  name: string;
  makeSender: () => Promise<{ sender: MailSender; address: string; recipient: string }>;
  /** Counts deliveries of a Message-ID at the server, when the backend can tell. */
  deliveriesOf?: ((messageId: string) => Promise<number>) | undefined;
}

let sequence = 0;

function message(address: string, recipient: string): OutgoingMessage {
  sequence += 1;
  const hex = `${Date.now().toString(16)}${sequence.toString(16).padStart(8, "0")}`.padStart(16, "0");
  return {
    messageId: `<${hex}@${address.split("@")[1]}>`,
    from: { address, name: "Ann Lee" },
    to: [{ address: recipient, name: "Jo Jordan" }],
    cc: [],
    bcc: [],
    subject: `Your documents ${sequence}`,
    text: "Hello Jo",
    attachments: [],
    date: new Date(Math.floor(Date.now() / 1000) * 1000),
  };
}

/** Runs the MailSender contract against a sender. */
export function outboxSenderContract(options: OutboxSenderContractOptions): void {
  describe(`outbox sender contract: ${options.name}`, () => {
    it("S4: a sent message is found in sent mail by its Message-ID; a never-sent one is not", async () => {
      const { sender, address, recipient } = await options.makeSender();
      try {
        const outgoing = message(address, recipient);
        const receipt = await sender.send(outgoing);
        expect(receipt.messageId).toBe(outgoing.messageId);
        expect(receipt.from).toBe(address);
        const found = await sender.findSent(receipt.messageId, {
          since: new Date(outgoing.date.getTime() - 60_000),
        });
        expect(found).toMatchObject({ found: true, messageId: outgoing.messageId });
        expect(await sender.findSent(`<never-${outgoing.messageId.slice(1)}`)).toEqual({ found: false });
        if (options.deliveriesOf) expect(await options.deliveriesOf(outgoing.messageId)).toBe(1);
      } finally {
        await sender.close();
      }
    });

    it("S4: a lookup since a time after the message was sent does not find it", async () => {
      const { sender, address, recipient } = await options.makeSender();
      try {
        const outgoing = message(address, recipient);
        await sender.send(outgoing);
        const later = new Date(outgoing.date.getTime() + 24 * 60 * 60_000);
        expect(await sender.findSent(outgoing.messageId, { since: later })).toEqual({ found: false });
      } finally {
        await sender.close();
      }
    });

    it("close is idempotent", async () => {
      const { sender } = await options.makeSender();
      await sender.close();
      await sender.close();
    });
  });
}
