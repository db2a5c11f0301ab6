import { describe, expect, it } from "vitest";
import { FakeMailSender, SimulatedCrash } from "./fake-mail-sender.js";
import { outboxSenderContract } from "./outbox-sender-contract.js";
import { MemoryMailbox } from "./memory-mailbox.js";

outboxSenderContract({
  name: "FakeMailSender",
  makeSender: async () => ({
    sender: new FakeMailSender({ address: "ann@ledger.example" }),
    address: "ann@ledger.example",
    recipient: "jo@home.example",
  }),
});

describe("FakeMailSender", () => {
  const outgoing = {
    messageId: "<0123456789abcdef@ledger.example>",
    from: { address: "ann@ledger.example" },
    to: [{ address: "jo@home.example" }],
    cc: [],
    bcc: [],
    subject: "Hello",
    text: "Hi",
    attachments: [],
    date: new Date("2026-03-02T09:00:00Z"),
  };

  it("S4: a crash after the server accepted leaves one delivery that findSent finds; before, none", async () => {
    const mailbox = new MemoryMailbox();
    const sender = new FakeMailSender({ address: "ann@ledger.example", mailbox });
    sender.failNext("before_accept", new SimulatedCrash("before accept"));
    await expect(sender.send(outgoing)).rejects.toThrow(SimulatedCrash);
    expect(sender.deliveries).toHaveLength(0);
    expect(await sender.findSent(outgoing.messageId)).toEqual({ found: false });
    sender.failNext("after_accept", new SimulatedCrash("after accept"));
    await expect(sender.send(outgoing)).rejects.toThrow(SimulatedCrash);
    expect(sender.deliveriesOf(outgoing.messageId)).toBe(1);
    expect(await sender.findSent(outgoing.messageId)).toMatchObject({ found: true });
  });

  it("refuses a From that is not the mailbox's address", async () => {
    const sender = new FakeMailSender({ address: "ann@ledger.example" });
    await expect(sender.send({ ...outgoing, from: { address: "bob@ledger.example" } })).rejects.toMatchObject(
      {
        code: "permission_denied",
      },
    );
  });
});
