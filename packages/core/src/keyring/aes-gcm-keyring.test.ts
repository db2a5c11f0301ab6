import { describe, expect, it } from "vitest";
import { ClientMailError, ValidationError } from "../errors.js";
import { createAesGcmKeyring, generateKeyringKey } from "./aes-gcm-keyring.js";

const context = { firmId: "firm-1", recordId: "mailbox-1", field: "credentials" };
const secret = JSON.stringify({ refreshToken: "1//0gREFRESH-token", password: "p@ss wörd" });

async function expectRefused(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(ClientMailError.hasCode(error, "decryption_failed")).toBe(true);
}

describe("AES-256-GCM keyring", () => {
  const k1 = generateKeyringKey();
  const k2 = generateKeyringKey();

  it("round-trips, never stores the plaintext, and uses a fresh data key and IV per value", async () => {
    const keyring = createAesGcmKeyring({ keys: { k1 }, currentKeyId: "k1" });
    const a = await keyring.encrypt(secret, context);
    const b = await keyring.encrypt(secret, context);
    expect(a).not.toBe(b);
    expect(a.startsWith("cmk1.k1.")).toBe(true);
    expect(a).not.toContain("REFRESH");
    expect(a.split(".")[3]).not.toBe(b.split(".")[3]);
    expect(await keyring.decrypt(a, context)).toBe(secret);
    expect(await keyring.decrypt(b, context)).toBe(secret);
  });

  it("binds a value to its firm, record and field (AAD)", async () => {
    const keyring = createAesGcmKeyring({ keys: { k1 }, currentKeyId: "k1" });
    const value = await keyring.encrypt(secret, context);
    await expectRefused(keyring.decrypt(value, { ...context, firmId: "firm-2" }));
    await expectRefused(keyring.decrypt(value, { ...context, recordId: "mailbox-2" }));
    await expectRefused(keyring.decrypt(value, { ...context, field: "signature" }));
  });

  it("refuses tampered values, unknown key ids and unknown formats instead of returning plaintext", async () => {
    const keyring = createAesGcmKeyring({ keys: { k1 }, currentKeyId: "k1" });
    const value = await keyring.encrypt(secret, context);
    const parts = value.split(".");
    const last = parts[5] ?? "";
    const flipped = [...parts.slice(0, 5), `${last.slice(0, -2)}${last.endsWith("AA") ? "AB" : "AA"}`].join(
      ".",
    );
    await expectRefused(keyring.decrypt(flipped, context));
    await expectRefused(keyring.decrypt(["cmk1", "k9", ...parts.slice(2)].join("."), context));
    await expectRefused(keyring.decrypt(secret, context));
    await expectRefused(keyring.decrypt(`cmk2.${parts.slice(1).join(".")}`, context));
    await expectRefused(keyring.decrypt(parts.slice(0, 5).join("."), context));
    await expectRefused(keyring.decrypt("", context));
    expect(() => keyring.needsRotation("plain text")).toThrow(ClientMailError);
    // A KEK from another keyring under the same id does not unwrap the data key.
    const impostor = createAesGcmKeyring({ keys: { k1: k2 }, currentKeyId: "k1" });
    await expectRefused(impostor.decrypt(value, context));
  });

  it("decrypts values of older keys and reports them for rotation", async () => {
    const old = createAesGcmKeyring({ keys: { k1 }, currentKeyId: "k1" });
    const value = await old.encrypt(secret, context);
    const rotated = createAesGcmKeyring({ keys: { k1, k2 }, currentKeyId: "k2" });
    expect(rotated.needsRotation(value)).toBe(true);
    expect(await rotated.decrypt(value, context)).toBe(secret);
    const fresh = await rotated.encrypt(secret, context);
    expect(fresh.startsWith("cmk1.k2.")).toBe(true);
    expect(rotated.needsRotation(fresh)).toBe(false);
    const retired = createAesGcmKeyring({ keys: { k2 }, currentKeyId: "k2" });
    await expectRefused(retired.decrypt(value, context));
  });

  it("rejects bad settings with the offending field", () => {
    const issuesOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        return (error as ValidationError).issues.map((i) => i.field);
      }
      throw new Error("expected a ValidationError");
    };
    expect(issuesOf(() => createAesGcmKeyring({ keys: { k1: "c2hvcnQ=" }, currentKeyId: "k1" }))).toEqual([
      "keys.k1",
    ]);
    expect(issuesOf(() => createAesGcmKeyring({ keys: { k1 }, currentKeyId: "k2" }))).toEqual([
      "currentKeyId",
    ]);
    expect(issuesOf(() => createAesGcmKeyring({ keys: { "bad.id": k1 }, currentKeyId: "bad.id" }))).toContain(
      "keys",
    );
  });
});
