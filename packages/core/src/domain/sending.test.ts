import { describe, expect, it } from "vitest";
import { composeMessageId, planBulkSend, replyHeaders, replySubject } from "./sending.js";
import { link } from "./test-fixtures.js";

describe("sending", () => {
  it("S1: a bulk send is one message per account, each to that account's notify-on addresses", () => {
    const plan = planBulkSend(
      [
        {
          accountId: "a",
          links: [
            link({ email: "x@a.example", notify: true }),
            link({ email: "y@a.example", notify: false }),
          ],
        },
        {
          accountId: "b",
          links: [link({ email: "z@b.example", notify: true }), link({ email: "w@b.example", notify: true })],
        },
        { accountId: "c", links: [link({ email: "q@c.example", notify: false })] },
        { accountId: "a", links: [] },
      ],
      { kind: "bulk_email" },
    );
    expect(plan.messages.map((m) => [m.accountId, m.recipients.map((r) => r.email)])).toEqual([
      ["a", ["x@a.example"]],
      ["b", ["z@b.example", "w@b.example"]],
    ]);
    expect(plan.skipped).toEqual(["c"]);
    const everyone = plan.messages.flatMap((m) => m.recipients.map((r) => r.email));
    expect(new Set(everyone).size).toBe(everyone.length);
  });

  it("S6: a reply carries In-Reply-To and References built from its parent", () => {
    expect(
      replyHeaders({ messageId: "<p@x>", inReplyTo: ["<g@x>"], references: ["<a@x>", "<g@x>"] }),
    ).toEqual({
      inReplyTo: "<p@x>",
      references: "<a@x> <g@x> <p@x>",
    });
    expect(replyHeaders({ messageId: "<p@x>", inReplyTo: ["<g@x>"], references: [] })).toEqual({
      inReplyTo: "<p@x>",
      references: "<g@x> <p@x>",
    });
    expect(replyHeaders({ messageId: "<p@x>", inReplyTo: [], references: [] })).toEqual({
      inReplyTo: "<p@x>",
      references: "<p@x>",
    });
    expect(replyHeaders({ messageId: undefined, inReplyTo: [], references: [] })).toEqual({
      inReplyTo: undefined,
      references: undefined,
    });
    expect(replySubject("RE: AW: Tax return")).toBe("Re: Tax return");
  });

  it("S6: ids copied from synced mail cannot inject headers, and long chains are trimmed", () => {
    const headers = replyHeaders({
      messageId: "<p@x>",
      inReplyTo: [],
      references: ["<a@x>", "<evil@x>\r\nBcc: all@x", "<b@x>"],
    });
    expect(headers.references).not.toMatch(/[\r\n]/);
    const long = Array.from({ length: 40 }, (_, i) => `<m${i}@x>`);
    const trimmed = replyHeaders(
      { messageId: "<p@x>", inReplyTo: [], references: long },
      10,
    ).references!.split(" ");
    expect(trimmed).toHaveLength(10);
    expect(trimmed[0]).toBe("<m0@x>");
    expect(trimmed.at(-1)).toBe("<p@x>");
  });

  it("S5: the Message-ID is fixed at compose time and validated", () => {
    expect(composeMessageId("Ledger.example", "0123456789abcdef")).toBe("<0123456789abcdef@ledger.example>");
    expect(() => composeMessageId("ledger.example", "xyz")).toThrow(/randomHex/);
    expect(() => composeMessageId("ledger.example\r\nBcc: x", "0123456789abcdef")).toThrow(/domain/);
  });
});
