/**
 * A worker opens each mailbox's sender itself (S1–S6): from the host's sender factory, the
 * mailbox's credentials decrypted by the keyring (only ciphertext is stored) and the mailbox's
 * share of the shared pacing, exactly as it opens the mailbox's provider; one sender per mailbox,
 * closed when the worker stops. A `senderFor` override still wins (tests, hosts holding senders).
 */
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryJobQueue, createMemoryPacing, type MemoryStore } from "@clientmail/memory";
import { FakeMailSender } from "@clientmail/testkit";
import {
  CREDENTIALS_FIELD,
  createAesGcmKeyring,
  createClientMail,
  createWorker,
  generateKeyringKey,
  type Mailbox,
  type ProviderContext,
  type SyncWorker,
} from "../../src/index.js";
import { silentLogger, type Pacing } from "../../src/ports/index.js";
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

/** Records what the shared pacing was asked for. */
function recordingPacing(inner: Pacing, takes: string[]): Pacing {
  return {
    take: async (firmId, key, units, budget, signal) => {
      takes.push(`${key}:${units}`);
      await inner.take(firmId, key, units, budget, signal);
    },
    acquire: (...args) => inner.acquire(...args),
    tryAcquire: (...args) => inner.tryAcquire(...args),
  };
}

async function sendingWorld() {
  const f = await makeFirm();
  const clock = { now: () => new Date() };
  const queue = createMemoryJobQueue({ store: f.store as MemoryStore, clock, retryDelayMs: () => 5 });
  const keyring = createAesGcmKeyring({ keys: { k1: generateKeyringKey() }, currentKeyId: "k1" });
  const secret = JSON.stringify({ user: "ann", password: "s3cret-app-password" });
  await f.store.setMailboxCredentials(
    f.firm.id,
    f.boxes.ann.id,
    await keyring.encrypt(secret, { firmId: f.firm.id, recordId: f.boxes.ann.id, field: CREDENTIALS_FIELD }),
  );
  const client = createClientMail({ store: f.store, queue, clock });
  const send = (subject: string) =>
    client.send(f.firm.id, {
      actor: { kind: "member", memberId: f.members.ann.id },
      mailboxId: f.boxes.ann.id,
      accountIds: [f.accounts.acme.id],
      subject,
      text: "Hello Petra",
    });
  const base = {
    store: f.store,
    queue,
    clock,
    keyring,
    logger: silentLogger,
    random: () => 0,
    holder: "worker-1",
    providerFor: (mailbox: Mailbox) => f.box(mailbox.id).provider(),
    queuePollIntervalMs: 10,
    pollIntervalMs: 60 * 60_000,
    maxWatchers: 0,
  };
  const sentState = (outboxId: string) => async () =>
    (await f.store.getOutbox(f.firm.id, outboxId))?.state === "sent";
  return { f, queue, keyring, secret, send, base, sentState };
}

describe("a worker opens its senders", () => {
  it("S4, P4: the sender comes from the host's factory with the mailbox's decrypted credentials and its share of the shared pacing; one per mailbox", async () => {
    const { f, secret, send, base, sentState } = await sendingWorld();
    const takes: string[] = [];
    const pacing = recordingPacing(createMemoryPacing(), takes);
    const opened: { mailbox: Mailbox; credentials: string | undefined; context?: ProviderContext }[] = [];
    const sender = new FakeMailSender({ address: f.boxes.ann.address, mailbox: f.box(f.boxes.ann.id) });
    const worker = createWorker({
      ...base,
      pacing,
      senderFactory: async (mailbox, credentials, context) => {
        opened.push({ mailbox, credentials, context });
        // A provider's sender spends its quota through the context, as the Gmail sender does.
        await context?.pacing?.take(100, { units: 15_000, windowMs: 60_000 });
        return sender;
      },
    });
    workers.push(worker);
    await worker.start();
    const first = await send("First");
    const second = await send("Second");
    await eventually(sentState(first.messages[0]!.id), "the first message to be sent");
    await eventually(sentState(second.messages[0]!.id), "the second message to be sent");
    expect(sender.deliveries.map((d) => d.subject).sort()).toEqual(["First", "Second"]);
    // One sender for the mailbox, opened with the plaintext the keyring decrypted.
    expect(opened).toHaveLength(1);
    expect(opened[0]!.mailbox.id).toBe(f.boxes.ann.id);
    expect(opened[0]!.credentials).toBe(secret);
    expect(opened[0]!.context?.pacing).toBeDefined();
    // The take went to the shared pacing, keyed by the mailbox's provider account.
    expect(takes).toEqual([`imap:${f.boxes.ann.address}:100`]);
    await worker.stop();
    expect(sender.closed).toBe(true);
  });

  it("S4: the senderFor override wins over the factory; without either the worker takes no outbox jobs", async () => {
    const { f, send, base, sentState, queue } = await sendingWorld();
    const sender = new FakeMailSender({ address: f.boxes.ann.address, mailbox: f.box(f.boxes.ann.id) });
    let factoryCalls = 0;
    const worker = createWorker({
      ...base,
      senderFor: () => sender,
      senderFactory: () => {
        factoryCalls += 1;
        throw new Error("not used");
      },
    });
    workers.push(worker);
    await worker.start();
    const { messages } = await send("Override");
    await eventually(sentState(messages[0]!.id), "the message to be sent");
    expect(factoryCalls).toBe(0);
    expect(sender.deliveries).toHaveLength(1);
    await worker.stop();

    const idle = createWorker({ ...base, holder: "worker-2" });
    workers.push(idle);
    await idle.start();
    const later = await send("Nobody sends");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await f.store.getOutbox(f.firm.id, later.messages[0]!.id))?.state).toBe("scheduled");
    expect((await queue.stats()).waiting).toBeGreaterThan(0);
  });

  it("S4: a mailbox with stored credentials and no keyring fails for good before anything is submitted, with why; nothing is delivered", async () => {
    const { f, send, base } = await sendingWorld();
    const sender = new FakeMailSender({ address: f.boxes.ann.address, mailbox: f.box(f.boxes.ann.id) });
    const worker = createWorker({ ...base, keyring: undefined, senderFactory: () => sender });
    workers.push(worker);
    await worker.start();
    const { messages } = await send("No keyring");
    await eventually(
      async () => (await f.store.getOutbox(f.firm.id, messages[0]!.id))?.lastError !== undefined,
      "the failed attempt to be recorded",
    );
    const message = await f.store.getOutbox(f.firm.id, messages[0]!.id);
    expect(message?.state).toBe("failed");
    expect(message?.lastError).toContain("unsupported");
    expect(sender.deliveries).toHaveLength(0);
  });
});
