/**
 * S4 with `afterCrash: "hold"`: a message a worker stopped sending, and that the mailbox's sent
 * mail does not show, waits for a person. `releaseHeld` is that person's decision — send it again,
 * or record it as sent — validated, checked against P1, and audited.
 */
import { describe, expect, it } from "vitest";
import { SimulatedCrash } from "@clientmail/testkit";
import { heldAfterCrashError } from "../../src/internal.js";
import type { Store } from "../../src/ports/index.js";
import { makeSendingFirm } from "./sending-fixture.js";

/** The worker's store, dying right after its first claim (nothing was submitted). */
function dyingAfterFirstClaim(store: Store): Store {
  let died = false;
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== "function") return value;
      const method = value as (...args: unknown[]) => unknown;
      if (property === "claimOutbox")
        return async (...args: unknown[]) => {
          const claimed = await method.apply(target, args);
          if (claimed && !died) {
            died = true;
            throw new SimulatedCrash("after claim");
          }
          return claimed;
        };
      return method.bind(target);
    },
  });
}

/** A firm whose first queued message is held after a crash. */
async function heldMessage() {
  const f = await makeSendingFirm({ afterCrash: "hold", workerStore: dyingAfterFirstClaim });
  const [queued] = (
    await f.client.send(f.firm.id, {
      actor: { kind: "member", memberId: f.members.ann.id },
      mailboxId: f.boxes.ann.id,
      accountIds: [f.accounts.acme.id],
      subject: "Engagement letter",
      text: "Please sign.",
    })
  ).messages;
  await f.settle();
  const held = (await f.store.getOutbox(f.firm.id, queued!.id))!;
  expect(held).toMatchObject({ state: "failed", lastError: heldAfterCrashError });
  expect(f.allDeliveries()).toEqual([]);
  return { f, held };
}

const auditOf = async (f: Awaited<ReturnType<typeof makeSendingFirm>>, action: string) =>
  (await f.store.listAudit(f.firm.id)).filter((e) => e.action === action);

describe("releasing a held message", () => {
  it("S4, P4: `resend` queues the held message again; it goes out once, and the decision is audited with who made it", async () => {
    const { f, held } = await heldMessage();
    const released = await f.client.releaseHeld(f.firm.id, held.id, {
      by: f.members.ann.id,
      action: "resend",
    });
    expect(released).toMatchObject({ state: "scheduled", lastError: undefined });
    await f.settle();
    expect(f.allDeliveries().map((d) => d.subject)).toEqual(["Engagement letter"]);
    expect((await f.store.getOutbox(f.firm.id, held.id))?.state).toBe("sent");
    expect(await auditOf(f, "outbox.released_resend")).toEqual([
      expect.objectContaining({
        actor: f.members.ann.id,
        subject: `outbox:${held.id}`,
        details: expect.objectContaining({ mailboxId: f.boxes.ann.id }),
      }),
    ]);
    // Released once: a second decision is a conflict.
    await expect(
      f.client.releaseHeld(f.firm.id, held.id, { by: f.members.ann.id, action: "resend" }),
    ).rejects.toMatchObject({ code: "conflict" });
  });

  it("S4, S5: `mark_sent` records the held message as sent without sending it, files it into its thread, and is audited", async () => {
    const { f, held } = await heldMessage();
    const released = await f.client.releaseHeld(f.firm.id, held.id, {
      by: f.members.ann.id,
      action: "mark_sent",
    });
    expect(released).toMatchObject({ state: "sent", messageId: expect.stringMatching(/^<.+>$/) });
    await f.settle();
    expect(f.allDeliveries()).toEqual([]);
    const sent = (await f.store.listAccountThreads(f.firm.id, f.accounts.acme.id, { view: "sent" })).flatMap(
      (t) => t.messages,
    );
    expect(sent.map((m) => m.subject)).toEqual(["Engagement letter"]);
    expect(await auditOf(f, "outbox.released_mark_sent")).toEqual([
      expect.objectContaining({ actor: f.members.ann.id, subject: `outbox:${held.id}` }),
    ]);
  });

  it("S4, P1: bad input is a validation error naming the field; a member who may not use the mailbox, or a message that is not held, is refused", async () => {
    const { f, held } = await heldMessage();
    await expect(
      f.client.releaseHeld(f.firm.id, held.id, {
        by: f.members.ann.id,
        action: "send_twice" as "resend",
      }),
    ).rejects.toMatchObject({
      code: "validation_failed",
      issues: [expect.objectContaining({ field: "action" })],
    });
    await expect(
      f.client.releaseHeld(f.firm.id, held.id, { by: "", action: "resend" }),
    ).rejects.toMatchObject({ code: "validation_failed" });
    await expect(
      f.client.releaseHeld(f.firm.id, held.id, { by: f.members.bob.id, action: "mark_sent" }),
    ).rejects.toMatchObject({ code: "permission_denied", reason: "not_connected_and_not_delegated" });
    const [scheduled] = (
      await f.client.send(f.firm.id, {
        actor: { kind: "member", memberId: f.members.ann.id },
        mailboxId: f.boxes.ann.id,
        accountIds: [f.accounts.acme.id],
        subject: "Later",
        text: "x",
        sendAt: new Date(f.clock.now().getTime() + 3_600_000),
      })
    ).messages;
    await expect(
      f.client.releaseHeld(f.firm.id, scheduled!.id, { by: f.members.ann.id, action: "mark_sent" }),
    ).rejects.toMatchObject({ code: "conflict" });
    expect((await f.store.getOutbox(f.firm.id, held.id))?.state).toBe("failed");
    expect((await f.store.getOutbox(f.firm.id, scheduled!.id))?.state).toBe("scheduled");
    expect(await auditOf(f, "outbox.released_resend")).toEqual([]);
    expect(await auditOf(f, "outbox.released_mark_sent")).toEqual([]);
  });
});
