import { describe, expect, it } from "vitest";
import {
  dismiss,
  isVisible,
  newMailRecipients,
  notificationKey,
  snooze,
  syncHealthNotices,
  teamSyncStatus,
  type NotificationVisibility,
} from "./notifications.js";
import { mailbox } from "./test-fixtures.js";

const members = [
  { id: "ann", name: "Ann", email: "ann@firm.com", newMailNotifications: "my_mailboxes" as const },
  { id: "bob", name: "Bob", email: "bob@firm.com", newMailNotifications: "all" as const },
  { id: "carl", name: "Carl", email: "carl@firm.com", newMailNotifications: "none" as const },
  { id: "dora", name: "Dora", email: "dora@firm.com", newMailNotifications: "my_mailboxes" as const },
];
const annBox = mailbox({ id: "mb-ann", address: "ann@firm.com", ownerMemberId: "ann" });
const doraBox = mailbox({ id: "mb-dora", address: "dora@firm.com", ownerMemberId: "dora" });

describe("notifications", () => {
  it("N1: new inbound client mail notifies members per their settings, except those who muted the thread", () => {
    const facts = { direction: "inbound" as const, threadId: "t1", mailboxIds: ["mb-ann"] };
    expect(newMailRecipients(facts, members, [annBox, doraBox], () => false)).toEqual(["ann", "bob"]);
    expect(
      newMailRecipients(
        facts,
        members,
        [annBox, doraBox],
        (member, thread) => member === "ann" && thread === "t1",
      ),
    ).toEqual(["bob"]);
    expect(newMailRecipients({ ...facts, direction: "outbound" }, members, [annBox], () => false)).toEqual(
      [],
    );
  });

  it("N2: members without a mailbox are told their email is not synced; a stopped mailbox tells its members", () => {
    const stopped = {
      ...doraBox,
      state: { status: "stopped" as const, reason: "auth_revoked" as const, at: new Date(0) },
    };
    const notices = syncHealthNotices(members, [annBox, stopped]);
    expect(notices).toEqual([
      { memberId: "bob", subject: { kind: "email_not_synced" } },
      { memberId: "carl", subject: { kind: "email_not_synced" } },
      { memberId: "dora", subject: { kind: "sync_stopped", mailboxId: "mb-dora", reason: "auth_revoked" } },
    ]);
    const disconnected = {
      ...doraBox,
      state: { status: "stopped" as const, reason: "disconnected_by_user" as const, at: new Date(0) },
    };
    expect(syncHealthNotices([members[3]!], [disconnected])).toEqual([
      { memberId: "dora", subject: { kind: "email_not_synced" } },
    ]);
    expect(notificationKey("dora", notices[2]!.subject)).toBe(
      notificationKey("dora", { kind: "sync_stopped", mailboxId: "mb-dora", reason: "other" }),
    );
  });

  it("N3: snooze hides a notification for 24 hours; dismiss hides it forever", () => {
    const t0 = new Date("2026-01-01T09:00:00Z");
    const hour = 3600_000;
    let state: NotificationVisibility = { status: "active" };
    expect(isVisible(state, t0)).toBe(true);
    state = snooze(state, t0);
    expect(isVisible(state, new Date(t0.getTime() + 23 * hour))).toBe(false);
    expect(isVisible(state, new Date(t0.getTime() + 24 * hour))).toBe(true);
    state = dismiss(state, t0);
    expect(isVisible(state, new Date(t0.getTime() + 1000 * hour))).toBe(false);
    expect(snooze(state, t0)).toBe(state);
  });

  it("N5, R2: the sync-status view shows per member whether they sync, each mailbox's state, last sync and quarantined messages", () => {
    const synced = { ...annBox, lastSyncedAt: new Date("2026-01-01T08:00:00Z") };
    const view = teamSyncStatus(members.slice(0, 2), [synced], new Map([["mb-ann", 3]]));
    expect(view).toEqual([
      {
        memberId: "ann",
        name: "Ann",
        email: "ann@firm.com",
        synced: true,
        mailboxes: [
          {
            mailboxId: "mb-ann",
            address: "ann@firm.com",
            state: { status: "live" },
            lastSyncedAt: synced.lastSyncedAt,
            quarantined: 3,
          },
        ],
      },
      { memberId: "bob", name: "Bob", email: "bob@firm.com", synced: false, mailboxes: [] },
    ]);
  });
});
