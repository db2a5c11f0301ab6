/**
 * The facade's firm settings and contact reads, on the memory store and on PostgreSQL: renaming a
 * firm and declaring its domains (F2) or deletion mode (F8), reading one contact and listing them,
 * each scoped by firm and given bad input.
 */
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createMemoryStore } from "@clientmail/memory";
import { createPostgresStore, migrate } from "@clientmail/postgres";
import { ClientMailError, createClientMail } from "../src/index.js";
import type { Store } from "../src/ports/index.js";

const url = process.env.CLIENTMAIL_TEST_DATABASE_URL;
if (!url) throw new Error("CLIENTMAIL_TEST_DATABASE_URL is not set: run the tests with `pnpm test`.");
const pool = new pg.Pool({ connectionString: url, max: 3 });
const migrated = migrate(pool);
afterAll(async () => {
  await pool.end();
});

const stores: Array<[name: string, make: () => Promise<Store>]> = [
  ["memory", async () => createMemoryStore()],
  [
    "postgres",
    async () => {
      await migrated;
      return createPostgresStore({ pool });
    },
  ],
];

async function failure(promise: Promise<unknown>): Promise<{ code: string; fields: string[] }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!ClientMailError.isInstance(error)) throw new Error(`expected a ClientMailError, got ${String(error)}`);
  const issues = (error as { issues?: Array<{ field: string }> }).issues ?? [];
  return { code: error.code, fields: issues.map((i) => i.field) };
}

describe.each(stores)("firm settings and contact reads on the %s store", (_name, makeStore) => {
  async function setup() {
    const cm = createClientMail({ store: await makeStore() });
    const firm = await cm.createFirm({ name: "Ledger", internalDomains: ["ledger.example"] });
    const other = await cm.createFirm({ name: "Rival" });
    return { cm, firm, other };
  }

  it("F2, F8: renames a firm and replaces its domains (normalised) and deletion mode; other fields stay", async () => {
    const { cm, firm, other } = await setup();
    const renamed = await cm.updateFirm(firm.id, { name: " Ledger & Co " });
    expect(renamed).toMatchObject({ id: firm.id, name: "Ledger & Co", internalDomains: ["ledger.example"] });
    const domains = await cm.updateFirm(firm.id, {
      internalDomains: [" Ledger.CO.uk ", "bücher.example"],
      deletionMode: "retain",
    });
    expect(domains).toMatchObject({
      name: "Ledger & Co",
      internalDomains: ["ledger.co.uk", "xn--bcher-kva.example"],
      deletionMode: "retain",
    });
    expect(await cm.getFirm(firm.id)).toEqual(domains);
    expect((await cm.getFirm(other.id)).name).toBe("Rival");
  });

  it("refuses a bad firm change naming the field, and an unknown firm with not_found", async () => {
    const { cm, firm } = await setup();
    expect(await failure(cm.updateFirm(firm.id, { internalDomains: ["not a domain"] }))).toEqual({
      code: "validation_failed",
      fields: ["internalDomains.0"],
    });
    expect(await failure(cm.updateFirm(firm.id, { name: "" }))).toEqual({
      code: "validation_failed",
      fields: ["name"],
    });
    expect((await failure(cm.updateFirm(firm.id, {}))).code).toBe("validation_failed");
    expect((await failure(cm.updateFirm(firm.id, { id: "x" } as never))).code).toBe("validation_failed");
    expect(await failure(cm.updateFirm(firm.id, { deletionMode: "never" } as never))).toEqual({
      code: "validation_failed",
      fields: ["deletionMode"],
    });
    expect((await failure(cm.updateFirm("no-such-firm", { name: "X" }))).code).toBe("not_found");
    expect((await cm.getFirm(firm.id)).name).toBe("Ledger");
  });

  it("reads one contact and lists the firm's contacts, never another firm's", async () => {
    const { cm, firm, other } = await setup();
    const created = await cm.createAccount(firm.id, {
      name: "Jordan family",
      kind: "family",
      contacts: [
        { firstName: "Jo", lastName: "Jordan", emails: [{ email: "jo@home.example" }] },
        { firstName: "Al", lastName: "Adams" },
      ],
    });
    const contactId = created.links[0]!.contactId;
    expect(await cm.getContact(firm.id, contactId)).toMatchObject({
      id: contactId,
      firmId: firm.id,
      firstName: "Jo",
      lastName: "Jordan",
    });
    expect((await cm.listContacts(firm.id)).map((c) => c.firstName)).toEqual(["Al", "Jo"]);
    expect(await cm.listContacts(other.id)).toEqual([]);
    expect((await failure(cm.getContact(other.id, contactId))).code).toBe("not_found");
    expect(await failure(cm.getContact(firm.id, ""))).toEqual({
      code: "validation_failed",
      fields: ["contactId"],
    });
  });
});
