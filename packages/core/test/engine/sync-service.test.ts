import { describe, expect, it } from "vitest";
import {
  createAesGcmKeyring,
  createClientMail,
  generateKeyringKey,
  SyncService,
  type Mailbox,
} from "../../src/index.js";
import { silentLogger } from "../../src/ports/index.js";
import { at, makeFirm, minutes, type Firm } from "./firm-fixture.js";

function service(f: Firm, opened: Array<{ mailbox: Mailbox; credentials: string | undefined }> = []) {
  const keyring = createAesGcmKeyring({ keys: { k1: generateKeyringKey() }, currentKeyId: "k1" });
  const sync = new SyncService({
    store: f.store,
    clock: f.clock,
    logger: silentLogger,
    keyring,
    holder: "worker-1",
    random: () => 0.5,
    sleep: async () => undefined,
    providerFor: (mailbox, credentials) => {
      opened.push({ mailbox, credentials });
      return f.box(mailbox.id).provider();
    },
  });
  return { sync, keyring };
}

describe("sync service", () => {
  it("Y1: a mailbox of any provider opens through the factory with its decrypted credentials; only ciphertext is stored", async () => {
    const f = await makeFirm();
    const opened: Array<{ mailbox: Mailbox; credentials: string | undefined }> = [];
    const { sync } = service(f, opened);
    const secret = JSON.stringify({ host: "imap.example", user: "ann", password: "s3cret-app-password" });
    await sync.storeCredentials(f.firm.id, f.boxes.ann.id, secret);
    const stored = await f.store.getMailboxCredentials(f.firm.id, f.boxes.ann.id);
    expect(stored).toBeDefined();
    expect(stored).not.toContain("s3cret");
    expect(await sync.syncMailbox(f.firm.id, f.boxes.ann.id)).toBe("ok");
    expect(opened).toEqual([
      { mailbox: expect.objectContaining({ id: f.boxes.ann.id, provider: "imap" }), credentials: secret },
    ]);
    // Push deliveries are routed by the host through the open provider.
    expect(sync.openProvider(f.firm.id, f.boxes.ann.id)?.kind).toBe("imap");
    expect(sync.openProvider(f.firm.id, f.boxes.bob.id)).toBeUndefined();
    await sync.stopSync(f.firm.id, f.boxes.ann.id, f.members.ann.id);
    expect(sync.openProvider(f.firm.id, f.boxes.ann.id)).toBeUndefined();
  });

  it("Y5: a newly synced address is backfilled from every connected mailbox by server-side search", async () => {
    const f = await makeFirm();
    const { sync } = service(f);
    for (const box of [f.boxes.ann, f.boxes.bob, f.boxes.support]) {
      f.box(box.id).append({
        from: [at("sam@home.example")],
        to: [at(box.address)],
        subject: `Hello ${box.address}`,
        messageId: `<sam-${box.id}@home>`,
        date: minutes(1),
        text: "hi",
      });
      f.box(box.id).append({
        from: [at("other@else.example")],
        to: [at(box.address)],
        subject: "Unrelated",
        messageId: `<other-${box.id}@else>`,
        date: minutes(2),
        text: "x",
      });
    }
    await f.store.updateLink(f.firm.id, f.links.samFamily.id, { emailSync: true });
    const outcomes = await sync.backfillAddresses(f.firm.id, ["sam@home.example"]);
    const filed = outcomes.reduce((sum, o) => sum + o.filed, 0);
    expect(filed).toBe(3);
    for (const box of Object.values(f.boxes)) expect(f.box(box.id).calls.changes).toBe(0);
    expect(f.box(f.boxes.ann.id).fetched).toHaveLength(1);
    const threads = await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" });
    expect(threads).toHaveLength(3);
  });

  it("Y5: a mailbox that cannot be searched is reported and the others are still backfilled", async () => {
    const f = await makeFirm();
    const { sync } = service(f);
    f.box(f.boxes.bob.id).append({
      from: [at("sam@home.example")],
      to: [at("bob@ledger.example")],
      subject: "Hi",
      messageId: "<hi@home>",
      date: minutes(1),
      text: "hi",
    });
    f.box(f.boxes.ann.id).failNext("search", { code: "transient" });
    await f.store.updateLink(f.firm.id, f.links.samFamily.id, { emailSync: true });
    const outcomes = await sync.backfillAddresses(f.firm.id, ["sam@home.example"]);
    expect(outcomes.find((o) => o.mailboxId === f.boxes.ann.id)).toMatchObject({ error: "transient" });
    expect(outcomes.find((o) => o.mailboxId === f.boxes.bob.id)).toMatchObject({ filed: 1 });
  });

  it("Y4: stopping sync deletes the credentials, keeps filed mail, warns about automations, and can be reset", async () => {
    const f = await makeFirm();
    const { sync } = service(f);
    await sync.storeCredentials(f.firm.id, f.boxes.ann.id, "secret");
    f.box(f.boxes.ann.id).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Keep me",
      messageId: "<keep@home>",
      date: minutes(1),
      text: "x",
    });
    await sync.syncMailbox(f.firm.id, f.boxes.ann.id);
    const result = await sync.stopSync(f.firm.id, f.boxes.ann.id, f.members.ann.id);
    expect(result.warning).toContain("ann@ledger.example");
    expect(await f.store.getMailboxCredentials(f.firm.id, f.boxes.ann.id)).toBeUndefined();
    expect((await f.store.getMailbox(f.firm.id, f.boxes.ann.id))!.state).toMatchObject({
      status: "stopped",
      reason: "disconnected_by_user",
    });
    expect(await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" })).toHaveLength(
      1,
    );
    expect((await f.store.listAudit(f.firm.id)).map((a) => a.action)).toContain("mailbox.sync_stopped");
    await sync.storeCredentials(f.firm.id, f.boxes.ann.id, "new-secret");
    expect(await sync.syncMailbox(f.firm.id, f.boxes.ann.id)).toBe("ok");
    expect((await f.store.getMailbox(f.firm.id, f.boxes.ann.id))!.state).toEqual({ status: "live" });
  });

  it("Y4: connecting a stopped mailbox's address again reconnects it with its filed mail, credentials only as ciphertext", async () => {
    const f = await makeFirm();
    const { sync, keyring } = service(f);
    const cm = createClientMail({ store: f.store, clock: f.clock, keyring });
    f.box(f.boxes.ann.id).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Before",
      messageId: "<before@home>",
      date: minutes(1),
      text: "x",
    });
    await sync.syncMailbox(f.firm.id, f.boxes.ann.id);
    await sync.stopSync(f.firm.id, f.boxes.ann.id, f.members.ann.id);
    await expect(
      cm.connectMailbox(f.firm.id, f.members.ann.id, { provider: "gmail", address: "ann@ledger.example" }),
    ).rejects.toMatchObject({ code: "validation_failed" });
    const again = await cm.connectMailbox(f.firm.id, f.members.ann.id, {
      provider: "imap",
      address: "Ann@Ledger.example",
      credentials: "new-app-password",
    });
    expect(again.id).toBe(f.boxes.ann.id);
    expect(again.state).toEqual({ status: "connecting" });
    const stored = await f.store.getMailboxCredentials(f.firm.id, f.boxes.ann.id);
    expect(stored).not.toContain("new-app-password");
    f.box(f.boxes.ann.id).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "After",
      messageId: "<after@home>",
      date: minutes(2),
      text: "y",
    });
    expect(await sync.syncMailbox(f.firm.id, f.boxes.ann.id)).toBe("ok");
    const subjects = (
      await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" })
    ).flatMap((t) => t.messages.map((m) => m.subject));
    expect(subjects.sort()).toEqual(["After", "Before"]);
    await expect(
      cm.connectMailbox(f.firm.id, f.members.ann.id, { provider: "imap", address: "ann@ledger.example" }),
    ).rejects.toMatchObject({ code: "conflict" });
  });
});

describe("privacy of logs", () => {
  it("F1: logs hold ids, counts and error codes only — never credentials, addresses' mail content or subjects", async () => {
    const f = await makeFirm();
    const lines: string[] = [];
    const capture = (level: string) => (message: string, fields?: Record<string, unknown>) =>
      void lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
    const keyring = createAesGcmKeyring({ keys: { k1: generateKeyringKey() }, currentKeyId: "k1" });
    const sync = new SyncService({
      store: f.store,
      clock: f.clock,
      logger: {
        debug: capture("debug"),
        info: capture("info"),
        warn: capture("warn"),
        error: capture("error"),
      },
      keyring,
      holder: "worker-1",
      random: () => 0.5,
      sleep: async () => undefined,
      providerFor: (mailbox) => f.box(mailbox.id).provider(),
    });
    const secret = "app-password-5f3e9c";
    await sync.storeCredentials(f.firm.id, f.boxes.ann.id, secret);
    const box = f.box(f.boxes.ann.id);
    const poison = box.append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Confidential subject 7731",
      messageId: "<p@home>",
      date: minutes(1),
      text: "Confidential body 7731",
    });
    box.append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Private subject 9912",
      messageId: "<q@home>",
      date: minutes(2),
      text: "Private body 9912",
    });
    box.failFetchOf(poison);
    box.failNext("changes", { code: "transient" });
    box.failNext("changes", { code: "rate_limited", retryAfterMs: 1000 });
    expect(await sync.syncMailbox(f.firm.id, f.boxes.ann.id)).toBe("ok");
    box.failNext("changes", { code: "auth_revoked" });
    expect(await sync.syncMailbox(f.firm.id, f.boxes.ann.id)).toBe("stopped");
    expect(lines.length).toBeGreaterThan(2);
    const log = lines.join("\n");
    for (const needle of [secret, "7731", "9912", "Confidential", "Private"])
      expect(log).not.toContain(needle);
  });
});
