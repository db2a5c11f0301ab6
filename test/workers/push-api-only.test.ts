/**
 * Y2: an API-only process (one that runs no workers) routes push notifications to the queue, for
 * the workers of other processes; without a queue there is nowhere to route them.
 */
import { describe, expect, it } from "vitest";
import { createClientMail } from "@clientmail/core";
import { secretHash } from "@clientmail/core/internal";
import { createMemoryJobQueue, createMemoryStore } from "@clientmail/memory";

async function firmWithGraphRegistration() {
  const store = createMemoryStore();
  const firm = await store.createFirm({
    name: "Ledger",
    internalDomains: ["ledger.example"],
    deletionMode: "mirror",
  });
  const member = await store.createMember(firm.id, {
    name: "Ann",
    email: "ann@ledger.example",
    role: "owner",
    newMailNotifications: "none",
    timeZone: "UTC",
  });
  const mailbox = await store.createMailbox(
    firm.id,
    {
      provider: "graph",
      address: "ann@ledger.example",
      displayName: "Ann",
      ownerMemberId: member.id,
      settings: { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" },
    },
    new Date(),
  );
  await store.putPushRegistration(firm.id, {
    mailboxId: mailbox.id,
    subscriptionId: "sub-1",
    provider: "graph",
    resource: "/me/mailFolders('inbox')/messages",
    secretHash: await secretHash("state-1"),
    expiresAt: new Date(Date.now() + 86_400_000),
  });
  return { store, firm };
}

const providers = () => {
  throw new Error("no provider is opened to route a notification");
};
const body = (clientState: string) => ({
  value: [{ subscriptionId: "sub-1", clientState, changeType: "created" }],
});

describe("push routing without workers", () => {
  it("Y2: with a queue and no start(), a valid notification becomes the mailbox's keyed sync job; a forged one none", async () => {
    const { store, firm } = await firmWithGraphRegistration();
    const queue = createMemoryJobQueue({ store });
    const cm = createClientMail({ store, queue, providers });
    expect(await cm.sync.notifyPush(firm.id, { provider: "graph", body: body("forged") })).toEqual({
      synced: 0,
      ignored: 1,
    });
    expect((await queue.stats()).waiting).toBe(0);
    expect(await cm.sync.notifyPush(firm.id, { provider: "graph", body: body("state-1") })).toEqual({
      synced: 1,
      ignored: 0,
    });
    await cm.sync.notifyPush(firm.id, { provider: "graph", body: body("state-1") });
    expect((await queue.stats()).waiting).toBe(1);
    await cm.close();
  });

  it("Y2: without a queue, notifyPush is unsupported, naming the setting", async () => {
    const { store, firm } = await firmWithGraphRegistration();
    const cm = createClientMail({ store, providers });
    await expect(
      cm.sync.notifyPush(firm.id, { provider: "graph", body: body("state-1") }),
    ).rejects.toMatchObject({
      code: "unsupported",
      details: { option: "queue" },
    });
  });
});
