/**
 * S4 under crashes: the sending worker "dies" at random points — right after it claimed the
 * message, after the server accepted it, before it marked it sent — over hundreds of trials, and
 * the deliveries of each message are counted at the (fake) server. A message is never delivered
 * twice unless the audit trail records the decision to send it again (made after a sent-mail
 * lookup that did not find it).
 */
import { describe, expect, it } from "vitest";
import { SimulatedCrash } from "@clientmail/testkit";
import type { MailSender, Store } from "../../src/ports/index.js";
import { makeSendingFirm } from "./sending-fixture.js";

type CrashPoint = "after_claim" | "after_accept" | "before_mark_sent";
const points: CrashPoint[] = ["after_claim", "after_accept", "before_mark_sent"];

/** The crashes scripted for the current trial, consumed in order. */
class CrashPlan {
  script: CrashPoint[] = [];
  readonly happened: Record<CrashPoint, number> = { after_claim: 0, after_accept: 0, before_mark_sent: 0 };
  take(point: CrashPoint): boolean {
    if (this.script[0] !== point) return false;
    this.script.shift();
    this.happened[point] += 1;
    return true;
  }
}

/** The worker's store, dying right after a claim or before the transaction that marks sent. */
function crashingStore(store: Store, plan: CrashPlan): Store {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== "function") return value;
      const method = value as (...args: unknown[]) => unknown;
      if (property === "claimOutbox" || property === "reclaimOutbox")
        return async (...args: unknown[]) => {
          const claimed = await method.apply(target, args);
          if (claimed && plan.take("after_claim")) throw new SimulatedCrash("after claim");
          return claimed;
        };
      if (property === "transaction")
        return async (...args: unknown[]) => {
          if (plan.take("before_mark_sent")) throw new SimulatedCrash("before marking sent");
          return method.apply(target, args);
        };
      return method.bind(target);
    },
  });
}

function crashingSender(sender: MailSender, plan: CrashPlan): MailSender {
  return {
    send: async (message, options) => {
      const receipt = await sender.send(message, options);
      if (plan.take("after_accept")) throw new SimulatedCrash("after the server accepted");
      return receipt;
    },
    findSent: (messageId, options) => sender.findSent(messageId, options),
    close: () => sender.close(),
  };
}

/** A deterministic generator, so a failing run can be repeated. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1664525 + 1013904223) % 2 ** 32;
    return state / 2 ** 32;
  };
}

async function runTrials(options: {
  trials: number;
  afterCrash: "resend" | "hold";
  lagRate: number;
  seed: number;
}) {
  const plan = new CrashPlan();
  const random = seeded(options.seed);
  let lagging = false;
  const f = await makeSendingFirm({
    afterCrash: options.afterCrash,
    workerStore: (store) => crashingStore(store, plan),
    sentFolderLags: () => lagging,
  });
  const senderFor = f.deps.senderFor;
  f.deps.senderFor = async (firmId, mailbox) => crashingSender(await senderFor(firmId, mailbox), plan);
  const counts = {
    trials: 0,
    crashes: 0,
    deliveries: 0,
    deliveredOnce: 0,
    deliveredTwiceWithDecision: 0,
    deliveredTwiceWithoutDecision: 0,
    notDelivered: 0,
    foundAfterCrash: 0,
    resendDecisions: 0,
    held: 0,
    filedTwice: 0,
  };
  for (let trial = 0; trial < options.trials; trial++) {
    const crashes = Math.floor(random() * 3); // 0, 1 or 2 crashes in this message's life
    plan.script = Array.from({ length: crashes }, () => points[Math.floor(random() * points.length)]!);
    lagging = random() < options.lagRate;
    const [queued] = (
      await f.client.send(f.firm.id, {
        actor: { kind: "member", memberId: f.members.ann.id },
        mailboxId: f.boxes.ann.id,
        accountIds: [f.accounts.acme.id],
        subject: `Trial ${trial}`,
        text: "Once.",
      })
    ).messages;
    await f.settle();
    const outbox = (await f.store.getOutbox(f.firm.id, queued!.id))!;
    const messageId = (queued!.draft as { messageId: string }).messageId;
    const delivered = f.senderOf(f.boxes.ann.id).deliveriesOf(messageId);
    const audit = (await f.store.listAudit(f.firm.id, 20)).filter(
      (e) => e.subject === `outbox:${queued!.id}`,
    );
    const decisions = audit.filter((e) => e.action === "outbox.resend_after_crash").length;
    const sent = audit.find((e) => e.action === "message.sent");
    counts.trials += 1;
    counts.crashes += crashes - plan.script.length;
    counts.deliveries += delivered;
    counts.resendDecisions += decisions;
    if (sent?.details.how === "found_after_crash") counts.foundAfterCrash += 1;
    if (delivered === 0) counts.notDelivered += 1;
    else if (delivered === 1) counts.deliveredOnce += 1;
    else if (decisions >= delivered - 1) counts.deliveredTwiceWithDecision += 1;
    else counts.deliveredTwiceWithoutDecision += 1;
    if (outbox.state === "failed") counts.held += 1;
    const filed = await f.store.findMessagesByMessageIds(f.firm.id, [messageId.slice(1, -1)]);
    if (filed.length > 1) counts.filedTwice += 1;

    // The invariants of every trial.
    expect(delivered, `trial ${trial}: deliveries beyond recorded decisions`).toBeLessThanOrEqual(
      1 + decisions,
    );
    if (options.afterCrash === "resend") {
      expect(outbox.state, `trial ${trial}`).toBe("sent");
      expect(delivered, `trial ${trial}`).toBeGreaterThanOrEqual(1);
      expect(filed, `trial ${trial}: filed once (S5)`).toHaveLength(1);
    } else {
      expect(["sent", "failed"], `trial ${trial}`).toContain(outbox.state);
      expect(decisions, `trial ${trial}: hold never resends`).toBe(0);
      if (outbox.state === "sent") expect(delivered).toBe(1);
    }
  }
  return counts;
}

describe("sending under crashes", () => {
  it("S4: 240 trials with the worker killed after claim, after the server accepted, or before marking sent: never two deliveries without a recorded decision", async () => {
    const counts = await runTrials({ trials: 240, afterCrash: "resend", lagRate: 0.15, seed: 11 });
    console.log(`S4 crash trials (resend after a lookup that finds nothing): ${JSON.stringify(counts)}`);
    expect(counts.trials).toBe(240);
    expect(counts.crashes).toBeGreaterThan(150);
    expect(counts.deliveredTwiceWithoutDecision).toBe(0);
    expect(counts.notDelivered).toBe(0);
    expect(counts.foundAfterCrash).toBeGreaterThan(0);
    expect(counts.filedTwice).toBe(0);
  }, 120_000);

  it("S4: with `hold`, a message not found after a crash is held for a person and never sent twice", async () => {
    const counts = await runTrials({ trials: 80, afterCrash: "hold", lagRate: 0.3, seed: 7 });
    console.log(`S4 crash trials (hold for a person): ${JSON.stringify(counts)}`);
    expect(counts.deliveredTwiceWithDecision + counts.deliveredTwiceWithoutDecision).toBe(0);
    expect(counts.held).toBeGreaterThan(0);
  }, 120_000);
});
