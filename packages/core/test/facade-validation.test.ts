/**
 * The facade refuses what a store cannot hold, and imports client lists row by row, the same way
 * on the memory store and on PostgreSQL (R4, T11, T12): every case runs against both.
 */
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createMemoryStore } from "@clientmail/memory";
import { createPostgresStore, migrate } from "@clientmail/postgres";
import { ClientMailError, createClientMail, ValidationError, type ClientMailEvents } from "../src/index.js";
import type { Store } from "../src/ports/index.js";

const url = process.env.CLIENTMAIL_TEST_DATABASE_URL;
if (!url) {
  // Never skip: a run without a server must fail loudly.
  throw new Error(
    "CLIENTMAIL_TEST_DATABASE_URL is not set. Run the tests with `pnpm test` (test/global-setup.ts starts PostgreSQL) or point it at a database.",
  );
}
const pool = new pg.Pool({ connectionString: url, max: 5 });
const migrated = migrate(pool);
afterAll(async () => {
  await pool.end();
});

const stores: Array<[name: string, makeStore: () => Promise<Store>]> = [
  ["memory", async () => createMemoryStore()],
  [
    "postgres",
    async () => {
      await migrated;
      return createPostgresStore({ pool });
    },
  ],
];

/**
 * A store whose `method` fails with `error` when `when` holds for its arguments, inside
 * transactions too: a failure halfway through a row, after its account and contact were written.
 */
function failing(store: Store, method: keyof Store, when: (args: unknown[]) => boolean, error: Error): Store {
  const wrap = (inner: Store): Store =>
    new Proxy(inner, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (property === "transaction")
          return <T>(fn: (tx: Store) => Promise<T>) => target.transaction((tx) => fn(wrap(tx)));
        if (property === method && typeof value === "function")
          return (...args: unknown[]) => {
            if (when(args)) return Promise.reject(error);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        return typeof value === "function" ? (value as () => unknown).bind(target) : value;
      },
    });
  return wrap(store);
}

async function rejection(promise: Promise<unknown>): Promise<ValidationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  expect((error as ValidationError).code).toBe("validation_failed");
  return error as ValidationError;
}

describe.each(stores)("the facade on the %s store", (_name, makeStore) => {
  async function setup(wrapStore: (store: Store) => Store = (store) => store) {
    const store = wrapStore(await makeStore());
    const cm = createClientMail({ store });
    const events: Array<keyof ClientMailEvents> = [];
    cm.on("invitation.requested", () => events.push("invitation.requested"));
    cm.on("backfill.requested", () => events.push("backfill.requested"));
    const suffix = globalThis.crypto.randomUUID().slice(0, 8);
    const firm = await cm.createFirm({ name: `Ledger ${suffix}`, internalDomains: ["ledger.example"] });
    const owner = await cm.addMember(firm.id, {
      name: "Olive",
      email: "olive@ledger.example",
      role: "owner",
    });
    const account = await cm.createAccount(firm.id, {
      name: "Jordan family",
      kind: "family",
      contacts: [{ firstName: "Jo", emails: [{ email: "jo@home.example" }] }],
    });
    const mailbox = await cm.connectMailbox(firm.id, owner.id, {
      provider: "imap",
      address: "olive@ledger.example",
    });
    return { store, cm, events, firm, owner, account, mailbox };
  }

  it("R4: NUL, other control characters and lone surrogates are refused with validation_failed naming field, value and expected", async () => {
    const { cm, store, firm, owner, account, mailbox } = await setup();
    const linkId = account.links[0]!.id;
    const cases: Array<[field: string, value: string, call: () => Promise<unknown>]> = [
      ["name", "Led\u0000ger", () => cm.createFirm({ name: "Led\u0000ger" })],
      ["name", "Ann\u0000", () => cm.addMember(firm.id, { name: "Ann\u0000", email: "ann@ledger.example" })],
      [
        "timeZone",
        "UTC\u0000",
        () => cm.addMember(firm.id, { name: "Ann", email: "ann@ledger.example", timeZone: "UTC\u0000" }),
      ],
      ["name", "Acme\u0000", () => cm.createAccount(firm.id, { name: "Acme\u0000", kind: "business" })],
      ["name", "Acme\nLtd", () => cm.createAccount(firm.id, { name: "Acme\nLtd", kind: "business" })],
      [
        "contacts.0.firstName",
        "\ud800Al",
        () =>
          cm.createAccount(firm.id, {
            name: "Acme",
            kind: "business",
            contacts: [{ firstName: "\ud800Al" }],
          }),
      ],
      [
        "contacts.0.lastName",
        "Ac\u0007me",
        () =>
          cm.createAccount(firm.id, {
            name: "Acme",
            kind: "business",
            contacts: [{ firstName: "Al", lastName: "Ac\u0007me" }],
          }),
      ],
      [
        "contacts.0.emails.0.email",
        "al\u0000@acme.example",
        () =>
          cm.createAccount(firm.id, {
            name: "Acme",
            kind: "business",
            contacts: [{ firstName: "Al", emails: [{ email: "al\u0000@acme.example" }] }],
          }),
      ],
      [
        "contacts.0.emails.0.invitationMessage",
        "Welcome\u0000",
        () =>
          cm.createAccount(firm.id, {
            name: "Acme",
            kind: "business",
            contacts: [
              {
                firstName: "Al",
                emails: [{ email: "al@acme.example", login: true, invitationMessage: "Welcome\u0000" }],
              },
            ],
          }),
      ],
      [
        "firstName",
        "Sam\u0000",
        () => cm.addContact(firm.id, account.account.id, { firstName: "Sam\u0000" }),
      ],
      [
        "invitationMessage",
        "Hi \udc00",
        () => cm.updateLink(firm.id, linkId, { invitationMessage: "Hi \udc00" }),
      ],
      [
        "email",
        "jo\ud800@home.example",
        () => cm.changeLinkAddress(firm.id, linkId, "jo\ud800@home.example"),
      ],
      [
        "displayName",
        "Box\u0000",
        () =>
          cm.connectMailbox(firm.id, owner.id, {
            provider: "imap",
            address: "box@ledger.example",
            displayName: "Box\u0000",
          }),
      ],
      [
        "signatureHtml",
        "<p>\u0000</p>",
        () => cm.updateMailboxSettings(firm.id, mailbox.id, owner.id, { signatureHtml: "<p>\u0000</p>" }),
      ],
      ["firmId", "f\u0000", () => cm.createAccount("f\u0000", { name: "Acme", kind: "business" })],
      ["accountId", "a\u0000", () => cm.accountOverview(firm.id, "a\u0000")],
      [
        "accountIds.0",
        "a\u0000",
        () => cm.bulkUpdate(firm.id, owner.id, { accountIds: ["a\u0000"], notify: "enable" }),
      ],
      ["memberId", "m\u0000", () => cm.notifications(firm.id, "m\u0000")],
    ];
    for (const [field, value, call] of cases) {
      const error = await rejection(call());
      expect(error.issues, field).toContainEqual({ field, value, expected: expect.any(String) });
      expect(error.message, field).toContain(field);
    }
    // Nothing was half-written by any of them.
    expect((await store.listAccounts(firm.id)).map((a) => a.name)).toEqual(["Jordan family"]);
    expect((await store.listContacts(firm.id)).map((c) => c.firstName)).toEqual(["Jo"]);
    expect((await store.listMembers(firm.id)).map((m) => m.name)).toEqual(["Olive"]);
    expect((await store.listLinks(firm.id)).map((l) => [l.email, l.invitation])).toEqual([
      ["jo@home.example", undefined],
    ]);
  });

  it("R4: tabs and line breaks in multi-line text, accents, emoji and scripts in names are stored as given", async () => {
    const { cm, firm, owner, mailbox, account } = await setup();
    const name = "Zoë & Jürgen 👩‍👩‍👧 Ølstad — 山田 İlkay";
    const created = await cm.createAccount(firm.id, {
      name,
      kind: "family",
      contacts: [
        {
          firstName: "Zoë",
          lastName: "Ølstad 👩‍👩‍👧",
          emails: [{ email: "zoe@home.example", login: true, invitationMessage: "Hello\r\n\tZoë" }],
        },
      ],
    });
    const read = await cm.accountOverview(firm.id, created.account.id);
    expect(read.account.name).toBe(name);
    expect(read.links[0]!.email).toBe("zoe@home.example");
    const settings = await cm.updateMailboxSettings(firm.id, mailbox.id, owner.id, {
      signatureHtml: "<p>Olive</p>\n\t<p>Ledger</p>",
    });
    expect(settings.settings.signatureHtml).toBe("<p>Olive</p>\n\t<p>Ledger</p>");
    expect(
      await cm.updateLink(firm.id, account.links[0]!.id, { invitationMessage: "Line 1\nLine 2" }),
    ).toMatchObject({ email: "jo@home.example" });
  });

  it("T12: an address typed with invisible characters, NFD or a trailing dot is stored normalised", async () => {
    const { cm, firm } = await setup();
    const created = await cm.createAccount(firm.id, {
      name: "Bücher GmbH",
      kind: "business",
      contacts: [
        {
          firstName: "Kai",
          emails: [
            { email: "\ufeffKai\u200b@Bu\u0308cher.example.\u00a0" },
            { email: "jose\u0301@home.example" },
          ],
        },
      ],
    });
    expect(created.links.map((l) => l.email).sort()).toEqual([
      "josé@home.example",
      "kai@xn--bcher-kva.example",
    ]);
    const refused = await rejection(
      cm.addContact(firm.id, created.account.id, {
        firstName: "Ed",
        emails: [{ email: "ed\u00a0smith@x.example" }],
      }),
    );
    expect(refused.issues).toEqual([
      {
        field: "emails.0.email",
        value: "ed\u00a0smith@x.example",
        expected: "an email address like name@example.com",
      },
    ]);
  });

  it("T11/R4: a CSV import with bad rows in the middle reports them per row and commits no half row", async () => {
    // Neil's link fails after his account and contact were written in the row's transaction.
    const clash = new ClientMailError("conflict", "This contact is already linked", { details: {} });
    const { cm, store, firm, events } = await setup((store) =>
      failing(
        store,
        "createLink",
        (args) => (args[1] as { email?: string }).email === "neil@new.example",
        clash,
      ),
    );
    const csv = [
      "account_name,account_kind,first_name,last_name,email,login,notify,email_sync,signatory",
      "Smith family,family,Ann,Smith,ann@smith.example,yes,yes,yes,no",
      "Bad\u0000 Ltd,business,Bo,Bad,bo@bad.example,no,no,no,no",
      "New Co,business,Neil,New,neil@new.example,no,no,yes,no",
      "Smith family,family,Ann,Smith,ann@smith.example,no,no,no,no",
      "Smith family,family,Ben,Smith\u0008,ben@smith.example,no,no,no,no",
      "Smith family,family,Cy,Smith,cy@smith.example,no,yes,yes,no",
    ].join("\n");
    const report = await cm.importClients(firm.id, csv);
    expect(report).toEqual({
      accountsCreated: 1,
      contactsCreated: 2,
      linksCreated: 2,
      rowErrors: [
        {
          row: 3,
          issues: [{ field: "rows.3.account_name", value: "Bad\u0000 Ltd", expected: expect.any(String) }],
        },
        {
          row: 4,
          issues: [{ field: "rows.4.email", value: "neil@new.example", expected: expect.any(String) }],
        },
        {
          row: 5,
          issues: [{ field: "rows.5.email", value: "ann@smith.example", expected: expect.any(String) }],
        },
        {
          row: 6,
          issues: [{ field: "rows.6.last_name", value: "Smith\u0008", expected: expect.any(String) }],
        },
      ],
    });
    // Row 4 wrote New Co and Neil before failing: both are gone with it.
    expect((await store.listAccounts(firm.id)).map((a) => a.name).sort()).toEqual([
      "Jordan family",
      "Smith family",
    ]);
    expect((await store.listContacts(firm.id)).map((c) => c.firstName).sort()).toEqual(["Ann", "Cy", "Jo"]);
    expect((await store.listLinks(firm.id)).map((l) => l.email).sort()).toEqual([
      "ann@smith.example",
      "cy@smith.example",
      "jo@home.example",
    ]);
    expect(events).toEqual(["invitation.requested", "backfill.requested"]);
  });

  it("T11: an unexpected failure during an import imports nothing at all and requests nothing", async () => {
    const outage = new Error("connection lost");
    const { cm, store, firm, events } = await setup((store) =>
      failing(
        store,
        "createContact",
        (args) => (args[1] as { firstName?: string }).firstName === "Cy",
        outage,
      ),
    );
    const csv = [
      "account_name,account_kind,first_name,email,login,email_sync",
      "Smith family,family,Ann,ann@smith.example,yes,yes",
      "Smith family,family,Cy,cy@smith.example,no,no",
    ].join("\n");
    await expect(cm.importClients(firm.id, csv)).rejects.toBe(outage);
    expect((await store.listAccounts(firm.id)).map((a) => a.name)).toEqual(["Jordan family"]);
    expect((await store.listLinks(firm.id)).map((l) => l.email)).toEqual(["jo@home.example"]);
    expect(events).toEqual([]);
  });

  it("T11: importClients called without the firm id fails with a validation error instead of importing nothing", async () => {
    const { cm, store, firm } = await setup();
    const csv = "account_name,account_kind,first_name,email\nSmith family,family,Ann,ann@smith.example\n";
    const importClients = cm.importClients.bind(cm) as (...args: unknown[]) => Promise<unknown>;
    const missingFirm = await rejection(importClients(csv));
    expect(missingFirm.issues.map((i) => i.field)).toEqual(["firmId"]);
    const headerOnly = await rejection(importClients("account_name,account_kind,first_name,email"));
    expect(headerOnly.issues).toEqual([
      { field: "csv", value: undefined, expected: "the CSV file as text (string) or bytes (Uint8Array)" },
    ]);
    const notAFile = await rejection(importClients(firm.id, { rows: [] }));
    expect(notAFile.issues.map((i) => i.field)).toEqual(["csv"]);
    expect((await store.listAccounts(firm.id)).map((a) => a.name)).toEqual(["Jordan family"]);
  });
});
