/**
 * A worker process (`createWorker`) with senders takes the outbox's jobs next to the mailboxes'
 * syncs: a message queued through the facade goes out once, is filed at once (S5), and the copy
 * the same worker's next sync pass brings back is recognised rather than stored twice.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryJobQueue, type MemoryStore } from "@clientmail/memory";
import { FakeMailSender } from "@clientmail/testkit";
import { createClientMail, createWorker, type SyncWorker } from "../../src/index.js";
import { silentLogger } from "../../src/ports/index.js";
import { makeFirm } from "./firm-fixture.js";

const workers: SyncWorker[] = [];
afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.stop({ timeoutMs: 1_000 });
});

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 8_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("a worker process sends", () => {
  it("S4, S5: createWorker with senders sends a queued message once; its sync recognises the sent copy", async () => {
    const f = await makeFirm();
    const clock = { now: () => new Date() };
    const queue = createMemoryJobQueue({ store: f.store as MemoryStore, clock, retryDelayMs: () => 5 });
    const sender = new FakeMailSender({ address: f.boxes.ann.address, mailbox: f.box(f.boxes.ann.id) });
    const worker = createWorker({
      store: f.store,
      queue,
      clock,
      logger: silentLogger,
      random: () => 0,
      holder: "worker-1",
      providerFor: (mailbox) => f.box(mailbox.id).provider(),
      senderFor: (_firmId, mailbox) => {
        if (mailbox.id !== f.boxes.ann.id) throw new Error("only Ann's mailbox sends here");
        return sender;
      },
      queuePollIntervalMs: 10,
      pollIntervalMs: 100,
    });
    workers.push(worker);
    await worker.start();
    const client = createClientMail({ store: f.store, queue, clock });
    const { messages } = await client.send(f.firm.id, {
      actor: { kind: "member", memberId: f.members.ann.id },
      mailboxId: f.boxes.ann.id,
      accountIds: [f.accounts.acme.id],
      subject: "Through the worker",
      text: "Hello Petra",
    });
    await eventually(
      async () => (await f.store.getOutbox(f.firm.id, messages[0]!.id))?.state === "sent",
      "the message to be sent",
    );
    const sentCopies = async () =>
      (await f.store.listAccountThreads(f.firm.id, f.accounts.acme.id, { view: "sent" })).flatMap(
        (t) => t.messages,
      );
    // The next poll of Ann's mailbox sees the provider's copy in Sent and adds its sighting.
    await eventually(
      async () => (await sentCopies())[0]?.sightings.length === 1,
      "the sent copy to come back",
    );
    expect(await sentCopies()).toHaveLength(1);
    expect(sender.deliveries).toHaveLength(1);
    await worker.stop();
    expect(sender.closed).toBe(true);
  });
});
