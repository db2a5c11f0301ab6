import { describe, expect, it } from "vitest";
import { createMemoryStore } from "@clientmail/memory";
import { createAesGcmKeyring, generateKeyringKey } from "./aes-gcm-keyring.js";
import { CREDENTIALS_FIELD, rotateAll } from "./rotate.js";

describe("rotateAll", () => {
  it("re-encrypts every credential on an old key, once, and reports values it cannot read", async () => {
    const k1 = generateKeyringKey();
    const k2 = generateKeyringKey();
    const store = createMemoryStore();
    const firm = await store.createFirm({ name: "Acme", internalDomains: [], deletionMode: "mirror" });
    const member = await store.createMember(firm.id, {
      name: "Ann",
      email: "ann@acme.example",
      role: "owner",
      newMailNotifications: "all",
      timeZone: "UTC",
    });
    const settings = { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" };
    const mailboxes = await Promise.all(
      ["a", "b", "c"].map((name) =>
        store.createMailbox(
          firm.id,
          {
            provider: "imap",
            address: `${name}@acme.example`,
            displayName: name,
            ownerMemberId: member.id,
            settings,
          },
          new Date(),
        ),
      ),
    );
    const old = createAesGcmKeyring({ keys: { k1 }, currentKeyId: "k1" });
    const context = (mailboxId: string) => ({
      firmId: firm.id,
      recordId: mailboxId,
      field: CREDENTIALS_FIELD,
    });
    const [a, b, c] = mailboxes.map((m) => m.id) as [string, string, string];
    await store.setMailboxCredentials(firm.id, a, await old.encrypt("secret-a", context(a)));
    // Copied from mailbox a: bound to a, so it must not decrypt as b's.
    await store.setMailboxCredentials(firm.id, b, await old.encrypt("secret-b", context(a)));
    const keyring = createAesGcmKeyring({ keys: { k1, k2 }, currentKeyId: "k2" });
    await store.setMailboxCredentials(firm.id, c, await keyring.encrypt("secret-c", context(c)));

    const report = await rotateAll(store, keyring);
    expect(report).toEqual({
      rotated: 1,
      current: 1,
      failed: [{ firmId: firm.id, mailboxId: b, code: "decryption_failed" }],
    });
    const stored = await store.getMailboxCredentials(firm.id, a);
    expect(stored?.startsWith("cmk1.k2.")).toBe(true);
    expect(await keyring.decrypt(stored ?? "", context(a))).toBe("secret-a");
    const again = await rotateAll(store, keyring, [firm.id]);
    expect(again.rotated).toBe(0);
    expect(again.current).toBe(2);
  });
});
