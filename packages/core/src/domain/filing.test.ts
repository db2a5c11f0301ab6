import { erasureTombstone } from "./erasure.js";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decideFiling, dedupeKey, FirmDirectory, normalizeMessageId, parseMessageIdList } from "./filing.js";
import type { EmailAddress, ProviderEnvelope } from "./envelope.js";

const a = (address: string): EmailAddress => ({ address });

function env(parts: Partial<Pick<ProviderEnvelope, "from" | "sender" | "replyTo" | "to" | "cc" | "bcc">>) {
  return { from: [], sender: [], replyTo: [], to: [], cc: [], bcc: [], ...parts };
}

const directory = FirmDirectory.build({
  internalAddresses: ["ann@firm.com", "support@firm.com", "bob@firm-mail.net"],
  internalDomains: ["firm.com"],
  links: [
    { id: "l-cfo", accountId: "acme", email: "cfo@acme.com", emailSync: true },
    { id: "l-jo-family", accountId: "family-jo", email: "jo@home.net", emailSync: true },
    { id: "l-jo-biz", accountId: "jo-bakery", email: "jo@home.net", emailSync: true },
    { id: "l-off", accountId: "acme", email: "ceo@acme.com", emailSync: false },
    { id: "l-staff", accountId: "acme", email: "carol@firm.com", emailSync: true },
  ],
});

describe("filing", () => {
  it("F1: a message is filed only when an external participant has a sync-on link", () => {
    expect(
      decideFiling(directory, env({ from: [a("cfo@acme.com")], to: [a("ann@firm.com")] })),
    ).toMatchObject({
      filed: true,
      accountIds: ["acme"],
      matches: [{ address: "cfo@acme.com", linkId: "l-cfo", accountId: "acme" }],
    });
    expect(decideFiling(directory, env({ from: [a("news@shop.com")], to: [a("ann@firm.com")] }))).toEqual({
      filed: false,
      reason: "no_synced_client",
    });
    expect(
      decideFiling(directory, env({ from: [a("ceo@acme.com")], to: [a("ann@firm.com")] })),
    ).toMatchObject({ filed: false });
  });

  it("F1: every participant field counts, Bcc included where the provider shows it", () => {
    for (const field of ["from", "sender", "replyTo", "to", "cc", "bcc"] as const) {
      const decision = decideFiling(
        directory,
        env({ from: [a("ann@firm.com")], [field]: [a("cfo@acme.com")] }),
      );
      expect(decision.filed, field).toBe(true);
    }
  });

  it("F2: the firm's own addresses and domains never match a client, even with a sync-on link", () => {
    expect(directory.isInternal("support@firm.com")).toBe(true);
    expect(directory.isInternal("anyone@firm.com")).toBe(true);
    expect(directory.isInternal("bob@firm-mail.net")).toBe(true);
    expect(directory.isInternal("cfo@acme.com")).toBe(false);
    expect(decideFiling(directory, env({ from: [a("carol@firm.com")], to: [a("ann@firm.com")] })).filed).toBe(
      false,
    );
  });

  it("F3: a message among team members only is not client mail, however widely cc'd", () => {
    expect(
      decideFiling(
        directory,
        env({
          from: [a("ann@firm.com")],
          to: [a("support@firm.com")],
          cc: [a("bob@firm-mail.net"), a("x@firm.com")],
        }),
      ),
    ).toEqual({ filed: false, reason: "all_internal" });
  });

  it("F4: a message is filed into every account with a matching link", () => {
    const decision = decideFiling(
      directory,
      env({ from: [a("jo@home.net")], to: [a("ann@firm.com")], cc: [a("cfo@acme.com")] }),
    );
    expect(decision.filed && decision.accountIds.sort()).toEqual(["acme", "family-jo", "jo-bakery"]);
  });

  it("F6: outbound when the sender is internal, inbound otherwise", () => {
    const out = decideFiling(directory, env({ from: [a("ann@firm.com")], to: [a("cfo@acme.com")] }));
    const inbound = decideFiling(directory, env({ from: [a("cfo@acme.com")], to: [a("ann@firm.com")] }));
    const third = decideFiling(directory, env({ from: [a("lawyer@other.com")], cc: [a("cfo@acme.com")] }));
    expect(out.filed && out.direction).toBe("outbound");
    expect(inbound.filed && inbound.direction).toBe("inbound");
    expect(third.filed && third.direction).toBe("inbound");
  });

  it("F7: once email sync is off for a link, nothing new is filed through it; on again files again", () => {
    const d = FirmDirectory.build({
      internalAddresses: [],
      internalDomains: [],
      links: [{ id: "l1", accountId: "x", email: "c@x.com", emailSync: true }],
    });
    const message = env({ from: [a("c@x.com")] });
    expect(decideFiling(d, message).filed).toBe(true);
    d.removeSyncedLink("c@x.com", "l1");
    expect(decideFiling(d, message).filed).toBe(false);
    d.addSyncedLink("c@x.com", "l1", "x");
    d.addSyncedLink("c@x.com", "l1", "x");
    expect(decideFiling(d, message)).toMatchObject({ filed: true, matches: [{ linkId: "l1" }] });
  });

  it("F5: Message-IDs are normalised so the same message from any mailbox has one identity", () => {
    expect(normalizeMessageId(" <ABC.123@Mail.Example.com> ")).toBe("abc.123@mail.example.com");
    expect(normalizeMessageId("abc.123@mail.example.com (comment)")).toBe("abc.123@mail.example.com");
    expect(normalizeMessageId("")).toBeUndefined();
    expect(normalizeMessageId("<>")).toBeUndefined();
    const content = { from: [a("x@y.com")], to: [], cc: [], date: new Date(0), subject: "s", body: "b" };
    expect(dedupeKey("<ABC@x.com>", content)).toBe(dedupeKey("abc@x.com", { ...content, body: "other" }));
    expect(parseMessageIdList("<a@x> <B@x>\r\n <a@x>")).toEqual(["a@x", "b@x"]);
  });

  it("F5: parentheses inside <...> belong to the id, so <part(1)@x> and <part(2)@x> are two identities", () => {
    expect(normalizeMessageId("<part(1)@x>")).toBe("part(1)@x");
    expect(normalizeMessageId("<part(2)@x>")).toBe("part(2)@x");
    expect(normalizeMessageId("<part(1)@x> (sent by (nested) relay)")).toBe("part(1)@x");
    // Comments outside the brackets are dropped, even one that holds a bracketed id.
    expect(normalizeMessageId("(was <old@x>) <new@x>")).toBe("new@x");
    expect(normalizeMessageId("(note \\) still note) <a@x>")).toBe("a@x");
    // A comment that never closes is text, not a reason to lose the id.
    expect(normalizeMessageId("<a(b@x> (unclosed")).toBe("a(b@x");
    expect(normalizeMessageId("(unclosed <a@x>")).toBe("a@x");
    expect(parseMessageIdList("<part(1)@x> (reply to <ghost@x>)\r\n <part(2)@x> <PART(1)@x>")).toEqual([
      "part(1)@x",
      "part(2)@x",
    ]);
    const content = { from: [a("x@y.com")], to: [], cc: [], date: new Date(0), subject: "s", body: "b" };
    expect(dedupeKey("<part(1)@x>", content)).not.toBe(dedupeKey("<part(2)@x>", content));
  });

  it("F5: without a Message-ID the identity hashes from, sorted recipients, date, subject and body", () => {
    const base = {
      from: [a("x@y.com")],
      to: [a("b@z.com"), a("a@z.com")],
      cc: [a("c@z.com")],
      date: new Date("2026-01-01T00:00:00Z"),
      subject: "Hi",
      body: "Body\r\n",
    };
    const key = dedupeKey(undefined, base);
    expect(key).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(
      dedupeKey(undefined, { ...base, to: [a("c@z.com"), a("a@z.com")], cc: [a("b@z.com")], body: "Body\n" }),
    ).toBe(key);
    for (const change of [
      { subject: "Hi!" },
      { body: "Other" },
      { from: [a("q@y.com")] },
      { date: new Date("2026-01-01T00:00:05Z") },
    ]) {
      expect(dedupeKey(undefined, { ...base, ...change })).not.toBe(key);
    }
  });

  it("F5: the fallback identity is independent of recipient order (property)", () => {
    const addr = fc.constantFrom("a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com").map(a);
    fc.assert(
      fc.property(
        fc.array(addr, { maxLength: 5 }),
        fc.array(addr, { maxLength: 5 }),
        fc.string(),
        (to, cc, body) => {
          const content = {
            from: [a("f@x.com")],
            to,
            cc,
            date: new Date(1_700_000_000_000),
            subject: "s",
            body,
          };
          const shuffled = { ...content, to: [...cc].reverse(), cc: [...to].reverse() };
          return dedupeKey(undefined, content) === dedupeKey(undefined, shuffled);
        },
      ),
    );
  });

  it("F1: a directory of many links still answers by lookup", () => {
    const big = FirmDirectory.build({
      internalAddresses: ["ann@firm.com"],
      internalDomains: [],
      links: Array.from({ length: 50_000 }, (_, i) => ({
        id: `l${i}`,
        accountId: `acct${i % 1000}`,
        email: `client${i}@c${i % 97}.com`,
        emailSync: i % 2 === 0,
      })),
    });
    expect(decideFiling(big, env({ from: [a("client42@c42.com")], to: [a("ann@firm.com")] }))).toMatchObject({
      filed: true,
      accountIds: ["acct42"],
    });
    expect(decideFiling(big, env({ from: [a("client43@c43.com")], to: [a("ann@firm.com")] })).filed).toBe(
      false,
    );
  });
  it("R10: a message with an erased contact's address among its participants is never filed", () => {
    const directory = FirmDirectory.build({
      internalAddresses: ["ann@firm.example"],
      internalDomains: [],
      links: [
        { id: "l-sam", accountId: "a", email: "sam@c.example", emailSync: true },
        { id: "l-jo", accountId: "a", email: "jo@c.example", emailSync: true },
      ],
      erased: { firmId: "f1", tombstones: [erasureTombstone("f1", "jo@c.example")] },
    });
    const envelope = (cc: string[]) => ({
      from: [{ address: "sam@c.example" }],
      sender: [],
      replyTo: [],
      to: [{ address: "ann@firm.example" }],
      cc: cc.map((address) => ({ address })),
      bcc: [],
    });
    expect(decideFiling(directory, envelope([])).filed).toBe(true);
    expect(decideFiling(directory, envelope(["jo@c.example"]))).toEqual({ filed: false, reason: "erased" });
    // Bound to the firm: another firm's tombstone of the same address erases nothing here.
    const other = FirmDirectory.build({
      internalAddresses: [],
      internalDomains: [],
      links: [{ id: "l", accountId: "a", email: "jo@c.example", emailSync: true }],
      erased: { firmId: "f2", tombstones: [erasureTombstone("f1", "jo@c.example")] },
    });
    expect(decideFiling(other, envelope(["jo@c.example"])).filed).toBe(true);
  });
});
