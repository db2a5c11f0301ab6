/**
 * The outbox path on both stores (the memory reference and PostgreSQL): the facade queues, the
 * production job function `sendQueued` runs each job as the queue would hand it out, and a run
 * that dies after the server accepted the message is settled by the next run's sent-mail lookup.
 * The queue here only records what is enqueued; the queue itself is covered by its conformance
 * suite and by the memory-queue tests of `sending.test.ts`.
 */
import { describe, expect, it } from "vitest";
import { FakeMailSender, SimulatedCrash } from "@clientmail/testkit";
import { createClientMail } from "../../src/index.js";
import { sendQueued, type OutboxDependencies } from "../../src/internal.js";
import { silentLogger, type Job, type JobQueue, type NewJob } from "../../src/ports/index.js";
import { at, makeFirm, minutes } from "./firm-fixture.js";
import { engineStores } from "./stores.js";

function recordingQueue(): JobQueue & { jobs: NewJob[] } {
  const jobs: NewJob[] = [];
  const unsupported = () => Promise.reject(new Error("not part of this test"));
  return {
    jobs,
    enqueue: async (_store, added) => void jobs.push(...added),
    work: unsupported,
    listFailed: unsupported,
    retryFailed: unsupported,
    stats: unsupported,
    close: async () => undefined,
  };
}

const asJob = (job: NewJob, attempt: number): Job => ({
  id: `job-${String(job.key)}`,
  name: job.name,
  payload: job.payload,
  key: job.key,
  group: job.group,
  attempt,
  maxAttempts: job.maxAttempts ?? 10,
});

describe.each(engineStores)("sending on the $name", ({ make }) => {
  it("S4, S5, S6: a reply whose worker died after the server accepted it is found by its Message-ID, marked sent once and filed once in the thread", async () => {
    const f = await makeFirm({ makeStore: make });
    const queue = recordingQueue();
    const clock = { now: () => new Date() };
    const client = createClientMail({ store: f.store, queue, clock });
    f.box(f.boxes.ann.id).append({
      from: [at("petra@acme.example", "Petra Klein")],
      to: [at("ann@ledger.example")],
      subject: "Year-end question",
      messageId: "<ye-1@acme.example>",
      date: minutes(0),
      text: "?",
    });
    await f.sync(f.boxes.ann.id).syncOnce();
    const [thread] = await f.store.listAccountThreads(f.firm.id, f.accounts.acme.id, { view: "inbox" });
    const queued = await client.reply(f.firm.id, {
      actor: { kind: "member", memberId: f.members.ann.id },
      threadId: thread!.threadId,
      text: "Answer [CONTACT_FIRST_NAME]",
    });
    expect(queue.jobs).toHaveLength(1);
    const sender = new FakeMailSender({ address: "ann@ledger.example", mailbox: f.box(f.boxes.ann.id) });
    sender.failNext("after_accept", new SimulatedCrash("after the server accepted"));
    const deps: OutboxDependencies = {
      store: f.store,
      queue,
      clock,
      logger: silentLogger,
      senderFor: () => sender,
      holder: "w",
    };
    const signal = new AbortController().signal;
    await expect(sendQueued(deps, asJob(queue.jobs[0]!, 1), signal)).rejects.toMatchObject({
      code: "transient",
    });
    expect((await f.store.getOutbox(f.firm.id, queued.id))?.state).toBe("submitting");
    expect(await sendQueued(deps, asJob(queue.jobs[0]!, 2), signal)).toBe("found_after_crash");
    expect(await sendQueued(deps, asJob(queue.jobs[0]!, 3), signal)).toBe("skipped");
    expect(sender.deliveries).toHaveLength(1);
    expect(sender.deliveries[0]).toMatchObject({
      text: "Answer Petra",
      inReplyTo: "<ye-1@acme.example>",
      references: "<ye-1@acme.example>",
    });
    const sent = await f.store.getOutbox(f.firm.id, queued.id);
    expect(sent).toMatchObject({ state: "sent", attempts: 2, messageId: sender.deliveries[0]!.messageId });
    const threadNow = async () =>
      (await f.store.listAccountThreads(f.firm.id, f.accounts.acme.id, { view: "inbox" })).map((t) => ({
        threadId: t.threadId,
        messages: t.messages.map((m) => [m.direction, m.sightings.length]),
      }));
    expect(await threadNow()).toEqual([
      {
        threadId: thread!.threadId,
        messages: [
          ["inbound", 1],
          ["outbound", 0],
        ],
      },
    ]);
    await f.sync(f.boxes.ann.id).syncOnce();
    expect(await threadNow()).toEqual([
      {
        threadId: thread!.threadId,
        messages: [
          ["inbound", 1],
          ["outbound", 1],
        ],
      },
    ]);
  });

  it("S4, P5: a message that went out before its worker died is recorded as sent even when its mailbox stopped since; one that did not is refused", async () => {
    const f = await makeFirm({ makeStore: make });
    const queue = recordingQueue();
    const clock = { now: () => new Date() };
    const client = createClientMail({ store: f.store, queue, clock });
    const send = (subject: string) =>
      client.send(f.firm.id, {
        actor: { kind: "automation", automationId: "Reminders", runAsMemberId: f.members.ann.id },
        mailboxId: f.boxes.ann.id,
        accountIds: [f.accounts.acme.id],
        subject,
        text: "x",
      });
    const [went] = (await send("went out")).messages;
    const [stuck] = (await send("never left")).messages;
    const sender = new FakeMailSender({ address: "ann@ledger.example" });
    const deps: OutboxDependencies = {
      store: f.store,
      queue,
      clock,
      logger: silentLogger,
      senderFor: () => sender,
      holder: "w",
    };
    const signal = new AbortController().signal;
    sender.failNext("after_accept", new SimulatedCrash("after the server accepted"));
    await expect(sendQueued(deps, asJob(queue.jobs[0]!, 1), signal)).rejects.toThrow();
    sender.failNext("before_accept", new SimulatedCrash("before the server accepted"));
    await expect(sendQueued(deps, asJob(queue.jobs[1]!, 1), signal)).rejects.toThrow();
    await f.store.setMailboxState(f.firm.id, f.boxes.ann.id, {
      status: "stopped",
      reason: "auth_revoked",
      at: new Date(),
    });
    expect(await sendQueued(deps, asJob(queue.jobs[0]!, 2), signal)).toBe("found_after_crash");
    expect(await sendQueued(deps, asJob(queue.jobs[1]!, 2), signal)).toBe("refused");
    expect((await f.store.getOutbox(f.firm.id, went!.id))?.state).toBe("sent");
    expect(await f.store.getOutbox(f.firm.id, stuck!.id)).toMatchObject({
      state: "failed",
      lastError: expect.stringContaining("mailbox_sync_stopped"),
    });
    expect(sender.deliveries.map((d) => d.subject)).toEqual(["went out"]);
  });

  it("S4: a scheduled message cancelled before its job runs is never sent; one claimed is no longer cancellable", async () => {
    const f = await makeFirm({ makeStore: make });
    const queue = recordingQueue();
    const clock = { now: () => new Date() };
    const client = createClientMail({ store: f.store, queue, clock });
    const send = (subject: string) =>
      client.send(f.firm.id, {
        actor: { kind: "member", memberId: f.members.ann.id },
        mailboxId: f.boxes.ann.id,
        accountIds: [f.accounts.acme.id],
        subject,
        text: "x",
      });
    const [cancelled] = (await send("cancelled")).messages;
    const [claimed] = (await send("claimed")).messages;
    await client.cancel(f.firm.id, cancelled!.id, f.members.ann.id);
    const sender = new FakeMailSender({ address: "ann@ledger.example" });
    sender.failNext("after_accept", new SimulatedCrash("mid-send"));
    const deps: OutboxDependencies = {
      store: f.store,
      queue,
      clock,
      logger: silentLogger,
      senderFor: () => sender,
      holder: "w",
    };
    const signal = new AbortController().signal;
    expect(await sendQueued(deps, asJob(queue.jobs[0]!, 1), signal)).toBe("skipped");
    await expect(sendQueued(deps, asJob(queue.jobs[1]!, 1), signal)).rejects.toThrow();
    await expect(client.cancel(f.firm.id, claimed!.id, f.members.ann.id)).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringContaining("being sent"),
    });
    expect(sender.deliveries.map((d) => d.subject)).toEqual(["claimed"]);
  });
});
