/**
 * The facade's reads for mail views (listMailboxes, getMailbox, renderThread) on each store:
 * scoped by firm, ids validated, a thread's messages rendered safely.
 */
import { describe, expect, it } from "vitest";
import { ClientMailError, createClientMail } from "../src/index.js";
import { at, makeFirm, minutes } from "./engine/firm-fixture.js";
import { engineStores } from "./engine/stores.js";

describe.each(engineStores)("mail reads on the $name", ({ make }) => {
  it("H4, H5: renderThread gives a thread's messages oldest first, sanitised, and isThreadMuted the member's mute; another firm's thread is not found", async () => {
    const f = await makeFirm({ makeStore: make });
    const box = f.boxes.ann.id;
    f.box(box).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Papers",
      messageId: "<papers-1@home>",
      date: minutes(1),
      html: `<p>First</p><script>alert(1)</script><img src="https://tracker.example/p.gif">`,
    });
    f.box(box).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Re: Papers",
      messageId: "<papers-2@home>",
      inReplyTo: ["<papers-1@home>"],
      date: minutes(2),
      text: "Second",
    });
    await f.sync(box).syncOnce();
    const cm = createClientMail({ store: f.store, clock: f.clock });
    const [listed] = await cm.accountThreads(f.firm.id, f.accounts.family.id);
    const thread = await cm.renderThread(f.firm.id, listed!.threadId);
    expect(thread.threadId).toBe(listed!.threadId);
    expect(thread.messages.map((m) => m.subject)).toEqual(["Papers", "Re: Papers"]);
    expect(thread.lastActivityAt).toEqual(thread.messages[1]!.date);
    expect(thread.messages[0]).not.toHaveProperty("html");
    expect(thread.messages[0]!.body.html).not.toContain("<script");
    expect(thread.messages[0]!.body.blockedRemoteImages).toBe(1);
    const allowed = await cm.renderThread(f.firm.id, listed!.threadId, { remoteImages: "allow" });
    expect(allowed.messages[0]!.body.html).toContain("https://tracker.example/p.gif");

    // H4: muting is per member.
    await cm.muteThread(f.firm.id, listed!.threadId, f.members.ann.id);
    expect(await cm.isThreadMuted(f.firm.id, listed!.threadId, f.members.ann.id)).toBe(true);
    expect(await cm.isThreadMuted(f.firm.id, listed!.threadId, f.members.bob.id)).toBe(false);

    const other = await cm.createFirm({ name: "Other Books", internalDomains: [] });
    expect(await cm.isThreadMuted(other.id, listed!.threadId, f.members.ann.id)).toBe(false);
    const elsewhere = await cm.renderThread(other.id, listed!.threadId).catch((e: unknown) => e);
    expect(ClientMailError.isInstance(elsewhere) && elsewhere.code).toBe("not_found");
    const bad = await cm.renderThread(f.firm.id, "").catch((e: unknown) => e);
    expect(ClientMailError.isInstance(bad) && bad.code).toBe("validation_failed");
    const badOption = await cm
      .renderThread(f.firm.id, listed!.threadId, { remoteImages: "sometimes" as "allow" })
      .catch((e: unknown) => e);
    expect(ClientMailError.isInstance(badOption) && badOption.code).toBe("validation_failed");
  });

  it("N5: listMailboxes gives the firm's mailboxes by address; getMailbox finds one, never another firm's", async () => {
    const f = await makeFirm({ makeStore: make });
    const cm = createClientMail({ store: f.store, clock: f.clock });
    const listed = await cm.listMailboxes(f.firm.id);
    const addresses = listed.map((m) => m.address);
    expect(addresses).toEqual([...addresses].sort());
    expect(addresses).toContain(f.boxes.ann.address);
    expect(listed.every((m) => m.firmId === f.firm.id)).toBe(true);
    expect((await cm.getMailbox(f.firm.id, f.boxes.support.id)).address).toBe(f.boxes.support.address);
    const other = await cm.createFirm({ name: "Other Books", internalDomains: [] });
    expect(await cm.listMailboxes(other.id)).toEqual([]);
    const elsewhere = await cm.getMailbox(other.id, f.boxes.ann.id).catch((e: unknown) => e);
    expect(ClientMailError.isInstance(elsewhere) && elsewhere.code).toBe("not_found");
    const bad = await cm.getMailbox(f.firm.id, "x\u0000").catch((e: unknown) => e);
    expect(ClientMailError.isInstance(bad) && bad.code).toBe("validation_failed");
  });
});
