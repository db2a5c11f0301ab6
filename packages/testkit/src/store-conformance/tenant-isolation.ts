/**
 * Tenant isolation across every role: each method called with another firm's ids finds nothing
 * and changes nothing, and no listing shows another firm's records.
 */
import { expect, it } from "vitest";
import { ClientMailError } from "@clientmail/core";
import type { Store } from "@clientmail/core/ports";
import { message, minutes, seedFirm, t0, type Seed } from "./fixtures.js";
import { describeStoreSuite, type StoreConformanceOptions, type StoreRawReader } from "./options.js";

/** Everything the store says about a firm, for before/after comparisons. */
async function snapshot(store: Store, raw: StoreRawReader, seed: Seed) {
  const firmId = seed.firm.id;
  const threadIds = new Set<string>([seed.thread]);
  const messageIds = [
    ...(await store.findMessagesByDedupeKeys(firmId, ["<m1@bolt.example>", "<m2@bolt.example>"])).values(),
  ];
  return {
    firm: await store.getFirm(firmId),
    members: await store.listMembers(firmId),
    mailboxes: await store.listMailboxes(firmId),
    credentials: await store.listMailboxCredentials(firmId),
    cursor: await store.getCursor(firmId, seed.mailbox.id),
    accounts: await store.listAccounts(firmId),
    contacts: await store.listContacts(firmId),
    links: await store.listLinks(firmId),
    threads: await Promise.all([...threadIds].map((id) => store.listThreadMessages(firmId, id))),
    threadKeys: await store.findThreadsByKeys(firmId, ["k1", "k2"]),
    mutes: await store.listThreadMutes(firmId, seed.thread),
    messages: await Promise.all(messageIds.map((id) => store.getMessage(firmId, id))),
    accountThreads: await store.listAccountThreads(firmId, seed.account.id, { view: "inbox" }),
    notifications: await store.listNotifications(firmId, seed.member.id, minutes(0)),
    audit: await store.listAudit(firmId),
    outbox: await store.listOutbox(firmId),
    subjects: await store.findSubjectThreads(firmId, [{ key: "s:b", at: t0, open: true }], 1000),
    quarantine: await store.listQuarantine(firmId),
    tombstones: await store.listErasureTombstones(firmId),
    firmThreads: await store.listFirmThreads(firmId, { view: "inbox" }),
    rawMessages: await raw.countMessages(firmId),
    rawSightings: await raw.countSightings(firmId),
    rawCredentials: await raw.storedCredentials(firmId, seed.mailbox.id),
  };
}

/** The tenant-isolation suite; it calls every method of the `Store`. */
export function storeTenantIsolationConformance(options: StoreConformanceOptions): void {
  describeStoreSuite(options, "tenant isolation", () => {
    it("every method called with another firm's ids finds nothing and changes nothing", async () => {
      const { store, raw } = await options.makeStore();
      const a = await seedFirm(store, "tenant-a");
      const b = await seedFirm(store, "tenant-b");
      // Give firm B state in every table.
      const bToken = (await store.acquireLease(b.firm.id, b.mailbox.id, "worker-b", 60_000)) as number;
      await store.setCursor(b.firm.id, b.mailbox.id, bToken, "b-cursor");
      await store.setMailboxCredentials(b.firm.id, b.mailbox.id, "cmk1.b-secret");
      await store.attachThreadKeys(b.firm.id, b.thread, ["k1"]);
      const [bMessage] = await store.fileMessages(b.firm.id, [message(b, 1)], t0);
      await store.setThreadMuted(b.firm.id, b.thread, b.member.id, true);
      const bNotification = await store.createNotification(
        b.firm.id,
        { memberId: b.member.id, kind: "new_mail", payload: {} },
        t0,
      );
      await store.appendAudit(
        b.firm.id,
        { actor: "system", action: "x", subject: undefined, details: {} },
        t0,
      );
      const bOutbox = await store.createOutbox(
        b.firm.id,
        {
          mailboxId: b.mailbox.id,
          actor: { kind: "member", memberId: b.member.id },
          accountIds: [b.account.id],
          threadId: b.thread,
          draft: {},
          sendAt: t0,
        },
        t0,
      );
      await store.setInvitation(b.firm.id, b.link.id, {
        token: "b-token",
        email: b.link.email,
        status: "pending",
        sentAt: t0,
        acceptedAt: undefined,
        customMessage: undefined,
      });
      await store.addSubjectEntries(b.firm.id, b.thread, [{ key: "s:b", at: t0, open: true }]);
      await store.addErasureTombstones(b.firm.id, ["b-tombstone"], t0);
      await store.createNotification(
        b.firm.id,
        { memberId: b.member.id, kind: "new_client_mail", payload: { messageRecordId: "b-record" } },
        t0,
      );
      await store.putQuarantine(b.firm.id, [
        {
          mailboxId: b.mailbox.id,
          providerId: "INBOX:1:9",
          reason: "unparseable",
          detail: "x",
          attempts: 1,
          firstAttemptAt: t0,
          lastAttemptAt: t0,
          nextAttemptAt: t0,
        },
      ]);
      const bHash = "12".repeat(32);
      expect(await store.claimAttachment(b.firm.id, b.account.id, bHash)).toBe(true);
      const before = await snapshot(store, raw, b);

      const A = a.firm.id;
      const attempts: [
        string,
        () => Promise<unknown>,
        "absent" | "false" | "zero" | "empty" | "not_found" | "lease_lost" | "void",
      ][] = [
        ["getMember", () => store.getMember(A, b.member.id), "absent"],
        ["updateMember", () => store.updateMember(A, b.member.id, { name: "x" }), "not_found"],
        ["getMailbox", () => store.getMailbox(A, b.mailbox.id), "absent"],
        [
          "updateMailboxSettings",
          () => store.updateMailboxSettings(A, b.mailbox.id, { allowOthersToSend: true }),
          "not_found",
        ],
        [
          "setMailboxVerification",
          () =>
            store.setMailboxVerification(A, b.mailbox.id, {
              at: t0,
              complete: true,
              clientMessages: 0,
              missing: 0,
              repaired: 0,
              quarantined: 0,
            }),
          "not_found",
        ],
        [
          "setMailboxState",
          () => store.setMailboxState(A, b.mailbox.id, { status: "live" }, t0),
          "not_found",
        ],
        [
          "addMailboxConnection",
          () => store.addMailboxConnection(A, b.mailbox.id, a.member.id, t0),
          "not_found",
        ],
        [
          "addMailboxConnection(member)",
          () => store.addMailboxConnection(A, a.mailbox.id, b.member.id, t0),
          "not_found",
        ],
        [
          "removeMailboxConnection",
          () => store.removeMailboxConnection(A, b.mailbox.id, b.member.id),
          "false",
        ],
        [
          "setMailboxCredentials",
          () => store.setMailboxCredentials(A, b.mailbox.id, "cmk1.evil"),
          "not_found",
        ],
        ["getMailboxCredentials", () => store.getMailboxCredentials(A, b.mailbox.id), "absent"],
        [
          "createMailbox(owner)",
          () =>
            store.createMailbox(
              A,
              { ...a.mailbox, address: "new@tenant-a.example", ownerMemberId: b.member.id },
              t0,
            ),
          "not_found",
        ],
        ["acquireLease", () => store.acquireLease(A, b.mailbox.id, "intruder", 60_000), "absent"],
        ["renewLease", () => store.renewLease(A, b.mailbox.id, bToken, 60_000), "false"],
        ["leaseRemainingMs", () => store.leaseRemainingMs(A, b.mailbox.id), "absent"],
        ["releaseLease", () => store.releaseLease(A, b.mailbox.id, bToken), "void"],
        ["getCursor", () => store.getCursor(A, b.mailbox.id), "absent"],
        ["setCursor", () => store.setCursor(A, b.mailbox.id, bToken, "evil"), "lease_lost"],
        ["getAccount", () => store.getAccount(A, b.account.id), "absent"],
        ["updateAccount", () => store.updateAccount(A, b.account.id, { name: "x" }), "not_found"],
        ["deleteAccount", () => store.deleteAccount(A, b.account.id), "false"],
        ["getContact", () => store.getContact(A, b.contact.id), "absent"],
        ["updateContact", () => store.updateContact(A, b.contact.id, { firstName: "x" }), "not_found"],
        [
          "createLink(account)",
          () => store.createLink(A, { ...b.link, email: "new@x.example" }),
          "not_found",
        ],
        [
          "createLink(contact)",
          () => store.createLink(A, { ...b.link, accountId: a.account.id, email: "new@x.example" }),
          "not_found",
        ],
        ["getLink", () => store.getLink(A, b.link.id), "absent"],
        ["listLinks(account)", () => store.listLinks(A, { accountId: b.account.id }), "empty"],
        ["updateLink", () => store.updateLink(A, b.link.id, { emailSync: false }), "not_found"],
        ["deleteLink", () => store.deleteLink(A, b.link.id), "false"],
        ["setInvitation", () => store.setInvitation(A, b.link.id, undefined), "not_found"],
        ["findLinkByInvitationToken", () => store.findLinkByInvitationToken(A, "b-token"), "absent"],
        ["findThreadsByKeys", () => store.findThreadsByKeys(A, ["k1"]), "empty"],
        ["attachThreadKeys", () => store.attachThreadKeys(A, b.thread, ["k2"]), "not_found"],
        ["mergeThreads(survivor)", () => store.mergeThreads(A, b.thread, [a.thread]), "not_found"],
        ["mergeThreads(merged)", () => store.mergeThreads(A, a.thread, [b.thread]), "void"],
        ["listThreadMessages", () => store.listThreadMessages(A, b.thread), "empty"],
        ["listAccountThreads", () => store.listAccountThreads(A, b.account.id, { view: "inbox" }), "empty"],
        ["setThreadMuted", () => store.setThreadMuted(A, b.thread, b.member.id, false), "not_found"],
        ["listThreadMutes", () => store.listThreadMutes(A, b.thread), "empty"],
        [
          "listThreadMutesBatch",
          async () => [...(await store.listThreadMutesBatch(A, [b.thread])).values()].flat(),
          "empty",
        ],
        [
          "attachThreadKeysBatch",
          () => store.attachThreadKeysBatch(A, [{ threadId: b.thread, keys: ["k2"] }]),
          "not_found",
        ],
        [
          "addSubjectEntriesBatch",
          () =>
            store.addSubjectEntriesBatch(A, [
              { threadId: b.thread, entries: [{ key: "s", at: t0, open: true }] },
            ]),
          "not_found",
        ],
        [
          "fileMessages(thread)",
          () => store.fileMessages(A, [message(a, 1, { threadId: b.thread })], t0),
          "not_found",
        ],
        [
          "fileMessages(mailbox)",
          () =>
            store.fileMessages(
              A,
              [
                message(a, 1, {
                  sightings: [{ mailboxId: b.mailbox.id, providerId: "x", folder: "INBOX" }],
                }),
              ],
              t0,
            ),
          "not_found",
        ],
        [
          "fileMessages(account)",
          () =>
            store.fileMessages(
              A,
              [message(a, 1, { filings: [{ accountId: b.account.id, linkIds: [] }] })],
              t0,
            ),
          "not_found",
        ],
        [
          "fileMessages(link)",
          () =>
            store.fileMessages(
              A,
              [message(a, 1, { filings: [{ accountId: a.account.id, linkIds: [b.link.id] }] })],
              t0,
            ),
          "not_found",
        ],
        ["getMessage", () => store.getMessage(A, bMessage?.id ?? ""), "absent"],
        ["getMessages", () => store.getMessages(A, [bMessage?.id ?? ""]), "empty"],
        ["findMessagesByDedupeKeys", () => store.findMessagesByDedupeKeys(A, ["<m1@bolt.example>"]), "empty"],
        ["listSightings", () => store.listSightings(A, b.mailbox.id), "empty"],
        ["findMessagesByMessageIds", () => store.findMessagesByMessageIds(A, ["<m1@bolt.example>"]), "empty"],
        [
          "findSubjectThreads",
          async () => (await store.findSubjectThreads(A, [{ key: "s:b", at: t0, open: true }], 1000)).flat(),
          "empty",
        ],
        [
          "addSubjectEntries",
          () => store.addSubjectEntries(A, b.thread, [{ key: "s:b", at: t0, open: true }]),
          "not_found",
        ],
        ["listQuarantine", () => store.listQuarantine(A), "empty"],
        ["listQuarantine(mailbox)", () => store.listQuarantine(A, { mailboxId: b.mailbox.id }), "empty"],
        ["removeQuarantine", () => store.removeQuarantine(A, b.mailbox.id, ["INBOX:1:9"]), "zero"],
        [
          "putQuarantine",
          () =>
            store.putQuarantine(A, [
              {
                mailboxId: b.mailbox.id,
                providerId: "INBOX:1:9",
                reason: "unparseable",
                detail: "evil",
                attempts: 9,
                firstAttemptAt: t0,
                lastAttemptAt: t0,
                nextAttemptAt: t0,
              },
            ]),
          "not_found",
        ],
        ["removeSightings", () => store.removeSightings(A, b.mailbox.id, ["INBOX:1:1"], t0), "void"],
        ["eraseMessages", () => store.eraseMessages(A, [bMessage?.id ?? ""]), "zero"],
        ["deleteContact", () => store.deleteContact(A, b.contact.id), "false"],
        ["listErasureTombstones", () => store.listErasureTombstones(A), "empty"],
        [
          "findMessagesInvolving",
          () => store.findMessagesInvolving(A, { linkIds: [b.link.id], addresses: ["cleo@bolt.example"] }),
          "empty",
        ],
        ["listFirmThreads", () => store.listFirmThreads(A, { view: "inbox" }), "empty"],
        [
          "eraseThreadTraces",
          () => store.eraseThreadTraces(A, { threadIds: [b.thread], keys: ["k1"], participants: ["b"] }),
          "void",
        ],
        ["deleteNotifications", () => store.deleteNotifications(A, "messageRecordId", ["b-record"]), "zero"],
        ["claimAttachment", () => store.claimAttachment(A, b.account.id, "ef".repeat(32)), "not_found"],
        ["isAttachmentSaved", () => store.isAttachmentSaved(A, b.account.id, bHash), "false"],
        [
          "createNotification",
          () => store.createNotification(A, { memberId: b.member.id, kind: "x", payload: {} }, t0),
          "not_found",
        ],
        [
          "createNotifications",
          () => store.createNotifications(A, [{ memberId: b.member.id, kind: "x", payload: {} }], t0),
          "not_found",
        ],
        ["listNotifications", () => store.listNotifications(A, b.member.id, t0), "empty"],
        ["snoozeNotification", () => store.snoozeNotification(A, bNotification.id, minutes(60)), "false"],
        ["dismissNotification", () => store.dismissNotification(A, bNotification.id, t0), "false"],
        [
          "createOutbox(mailbox)",
          () => store.createOutbox(A, { ...bOutbox, mailboxId: b.mailbox.id, accountIds: [] }, t0),
          "not_found",
        ],
        [
          "createOutbox(account)",
          () => store.createOutbox(A, { ...bOutbox, mailboxId: a.mailbox.id, threadId: undefined }, t0),
          "not_found",
        ],
        [
          "createOutbox(thread)",
          () =>
            store.createOutbox(
              A,
              { ...bOutbox, mailboxId: a.mailbox.id, accountIds: [], threadId: b.thread },
              t0,
            ),
          "not_found",
        ],
        ["getOutbox", () => store.getOutbox(A, bOutbox.id), "absent"],
        ["listOutbox(mailbox)", () => store.listOutbox(A, { mailboxId: b.mailbox.id }), "empty"],
        ["listDueOutbox", () => store.listDueOutbox(A, minutes(1), 10), "empty"],
        [
          "updateScheduledOutbox",
          () => store.updateScheduledOutbox(A, bOutbox.id, { draft: { evil: true } }),
          "absent",
        ],
        ["cancelOutbox", () => store.cancelOutbox(A, bOutbox.id), "false"],
        ["claimOutbox", () => store.claimOutbox(A, bOutbox.id, "intruder"), "false"],
        [
          "markOutboxSent",
          () => store.markOutboxSent(A, bOutbox.id, "intruder", { at: t0, messageId: "x" }),
          "false",
        ],
        [
          "markOutboxFailed",
          () => store.markOutboxFailed(A, bOutbox.id, "intruder", { error: "x", retryAt: undefined }),
          "false",
        ],
        ["releaseFailedOutbox", () => store.releaseFailedOutbox(A, bOutbox.id, { sendAt: t0 }), "false"],
      ];
      for (const [name, call, expected] of attempts) {
        const outcome = await call().then(
          (value) => ({ value }),
          (error: unknown) => ({ error }),
        );
        const description = `${name} with firm A and firm B's ids`;
        if (expected === "not_found" || expected === "lease_lost") {
          expect("error" in outcome && ClientMailError.hasCode(outcome.error, expected), description).toBe(
            true,
          );
          continue;
        }
        expect("error" in outcome ? outcome.error : undefined, description).toBeUndefined();
        const value = "value" in outcome ? outcome.value : undefined;
        if (expected === "absent") expect(value, description).toBeUndefined();
        if (expected === "false") expect(value, description).toBe(false);
        if (expected === "zero") expect(value, description).toBe(0);
        if (expected === "empty") {
          const size = value instanceof Map ? value.size : (value as unknown[]).length;
          expect(size, description).toBe(0);
        }
      }
      // Removing sightings and dedupe keys of firm B through firm A reported nothing either.
      expect(await store.removeSightings(A, b.mailbox.id, ["INBOX:1:1"], t0)).toEqual({
        orphaned: [],
        hidden: false,
      });
      // Filing firm A's copy of the same Message-ID creates a separate record: dedupe never crosses firms.
      const [aCopy] = await store.fileMessages(A, [message(a, 1)], t0);
      expect(aCopy?.created).toBe(true);
      expect(aCopy?.id).not.toBe(bMessage?.id);

      expect(await snapshot(store, raw, b)).toEqual(before);
      // B's claim survived A's release.
      expect(await store.claimAttachment(b.firm.id, b.account.id, bHash)).toBe(false);

      // Firm A's listings hold none of firm B's records.
      const bIds = [
        b.firm.id,
        b.member.id,
        b.mailbox.id,
        b.account.id,
        b.contact.id,
        b.link.id,
        b.thread,
        bMessage?.id ?? "",
        bNotification.id,
        bOutbox.id,
      ];
      const listings: [string, unknown][] = [
        ["listMembers", await store.listMembers(A)],
        ["listMailboxes", await store.listMailboxes(A)],
        ["listMailboxCredentials", await store.listMailboxCredentials(A)],
        ["listAccounts", await store.listAccounts(A)],
        ["listContacts", await store.listContacts(A)],
        ["listLinks", await store.listLinks(A)],
        ["listThreadMessages", await store.listThreadMessages(A, a.thread)],
        ["listAccountThreads", await store.listAccountThreads(A, a.account.id, { view: "inbox" })],
        ["listNotifications", await store.listNotifications(A, a.member.id, minutes(10_000))],
        ["listAudit", await store.listAudit(A)],
        ["listOutbox", await store.listOutbox(A)],
        ["listDueOutbox", await store.listDueOutbox(A, minutes(10_000), 100)],
      ];
      for (const [name, listing] of listings) {
        const text = JSON.stringify(listing);
        for (const id of bIds)
          expect(text.includes(id), `${name} of firm A shows firm B's ${id}`).toBe(false);
      }
    });
  });
}
