import { describe, expect, it } from "vitest";
import { PermissionDeniedError } from "../errors.js";
import {
  actingMember,
  assertMaySend,
  automationSender,
  defaultReplyMailbox,
  maySendFrom,
  type Actor,
} from "./permissions.js";
import { mailbox } from "./test-fixtures.js";

const annBox = mailbox({ id: "mb-ann", address: "ann@firm.com", ownerMemberId: "ann" });
const delegated = mailbox({
  id: "mb-bob",
  address: "bob@firm.com",
  ownerMemberId: "bob",
  settings: { autoSaveAttachments: false, allowOthersToSend: true, signatureHtml: "" },
});
const shared = mailbox({
  id: "mb-support",
  address: "support@firm.com",
  ownerMemberId: "ann",
  connections: [
    { memberId: "ann", connectedAt: new Date(0) },
    { memberId: "carl", connectedAt: new Date(0) },
  ],
});
const stopped = mailbox({
  id: "mb-dead",
  address: "dead@firm.com",
  ownerMemberId: "dora",
  state: { status: "stopped", reason: "auth_revoked", at: new Date(0) },
});

describe("sending permissions", () => {
  it("P1: a member may send from a mailbox they connected, a delegated one, or a shared one they connected", () => {
    expect(maySendFrom("ann", annBox)).toEqual({ ok: true, mailboxId: "mb-ann" });
    expect(maySendFrom("carl", annBox)).toMatchObject({
      ok: false,
      reason: "not_connected_and_not_delegated",
    });
    expect(maySendFrom("carl", delegated)).toEqual({ ok: true, mailboxId: "mb-bob" });
    expect(maySendFrom("carl", shared)).toEqual({ ok: true, mailboxId: "mb-support" });
    expect(maySendFrom("dora", shared)).toMatchObject({ ok: false });
  });

  it("P2: an automation runs with its named member's rights and never falls back to another address", () => {
    const automation: Actor = { kind: "automation", automationId: "welcome-flow", runAsMemberId: "carl" };
    expect(actingMember(automation)).toBe("carl");
    expect(automationSender(automation, delegated)).toEqual({ ok: true, mailboxId: "mb-bob" });
    const refused = automationSender(automation, annBox);
    expect(refused).toMatchObject({ ok: false, reason: "not_connected_and_not_delegated" });
    expect(() => assertMaySend(refused)).toThrow(PermissionDeniedError);
    expect(automationSender(automation, undefined)).toMatchObject({ ok: false, reason: "mailbox_not_found" });
  });

  it("P3: a reply defaults to the thread's last inbound mailbox, else the sender's own, else a reasoned refusal", () => {
    expect(defaultReplyMailbox("carl", shared, [])).toEqual({ ok: true, mailboxId: "mb-support" });
    const carlBox = mailbox({ id: "mb-carl", address: "carl@firm.com", ownerMemberId: "carl" });
    expect(defaultReplyMailbox("carl", annBox, [carlBox])).toEqual({ ok: true, mailboxId: "mb-carl" });
    const refused = defaultReplyMailbox("erin", annBox, []);
    expect(refused).toMatchObject({ ok: false, reason: "no_usable_mailbox" });
    expect(!refused.ok && refused.message).toContain("ann@firm.com");
  });

  it("P4: a send is attributed to both the mailbox and the actor", () => {
    const actor: Actor = { kind: "automation", automationId: "reminders", runAsMemberId: "carl" };
    const attribution = { mailboxId: assertMaySend(automationSender(actor, delegated)), actor };
    expect(attribution).toEqual({
      mailboxId: "mb-bob",
      actor: { kind: "automation", automationId: "reminders", runAsMemberId: "carl" },
    });
  });

  it("P5: sending from a mailbox whose sync stopped fails with a typed error", () => {
    const refused = maySendFrom("dora", stopped);
    expect(refused).toMatchObject({ ok: false, reason: "mailbox_sync_stopped" });
    let caught: unknown;
    try {
      assertMaySend(refused);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PermissionDeniedError);
    expect((caught as PermissionDeniedError).code).toBe("mailbox_unavailable");
    expect((caught as PermissionDeniedError).reason).toBe("mailbox_sync_stopped");
  });
});
