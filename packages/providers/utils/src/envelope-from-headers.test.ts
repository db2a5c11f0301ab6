import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAddressList } from "@clientmail/core";
import {
  envelopeFromHeaders,
  headerBlockOf,
  messageIdTokens,
  parseHeaderBlock,
  parseSimpleAddressList,
} from "./envelope-from-headers.js";

const block = [
  'From: "Müller, Anna" <Anna.Mueller@Bücher.Example>',
  "To: team@firm.example,",
  " =?UTF-8?Q?J=C3=BCrgen?= <jurgen@client.example>",
  "Cc: undisclosed-recipients:;",
  "Subject: =?UTF-8?B?UmU6IFJlY2hudW5n?= =?UTF-8?B?IE3DvGxsZXI=?=",
  "Date: Tue, 5 Mar 2024 09:30:00 +0100 (CET)",
  "Message-ID: <abc@client.example>",
  "In-Reply-To: <parent@client.example> (sent by Anna)",
  "References: <root@client.example>",
  "  <parent@client.example>",
  "",
].join("\r\n");

describe("envelope from RFC 5322 header fields", () => {
  it("T12/H1: unfolds, decodes and normalises every field", () => {
    const envelope = envelopeFromHeaders({
      providerId: "INBOX:1:5",
      folder: "INBOX",
      headers: Buffer.from(block, "utf8"),
      size: 1234,
      flags: new Set(["\\Seen"]),
      internalDate: new Date("2024-03-06T00:00:00Z"),
      threadId: undefined,
    });
    expect(envelope.from).toEqual([{ name: "Müller, Anna", address: "anna.mueller@xn--bcher-kva.example" }]);
    expect(envelope.to).toEqual([
      { address: "team@firm.example" },
      { name: "Jürgen", address: "jurgen@client.example" },
    ]);
    expect(envelope.cc).toEqual([]);
    expect(envelope.subject).toBe("Re: Rechnung Müller");
    expect(envelope.date.toISOString()).toBe("2024-03-05T08:30:00.000Z");
    expect(envelope.messageId).toBe("<abc@client.example>");
    expect(envelope.inReplyTo).toEqual(["<parent@client.example>"]);
    expect(envelope.references).toEqual(["<root@client.example>", "<parent@client.example>"]);
    expect(envelope.flags).toEqual(["\\Seen"]);
    expect(envelope.size).toBe(1234);
  });

  it("falls back to the internal date and tolerates missing or broken headers", () => {
    const envelope = envelopeFromHeaders({
      providerId: "INBOX:1:6",
      folder: "INBOX",
      headers: "From: not an address\r\nDate: someday\r\n",
      size: undefined,
      flags: undefined,
      internalDate: "2024-01-02T03:04:05.000Z",
      threadId: "t1",
    });
    expect(envelope.date.toISOString()).toBe("2024-01-02T03:04:05.000Z");
    expect(envelope.from).toEqual([]);
    expect(envelope.messageId).toBeUndefined();
    expect(envelope.providerThreadId).toBe("t1");
    expect(envelope.subject).toBe("");
  });

  it("keeps repeated fields and only <id> tokens", () => {
    expect(parseHeaderBlock("To: a@x.example\r\nTo: b@x.example\r\n").get("to")).toEqual([
      "a@x.example",
      "b@x.example",
    ]);
    expect(messageIdTokens("<a@x> junk <b@y> <a@x>")).toEqual(["<a@x>", "<b@y>"]);
  });
});

describe("reading a header block", () => {
  /** The definition the line-by-line reader must keep: unfold, split on LF, skip lines without a name. */
  function reference(text: string): [string, string[]][] {
    const fields = new Map<string, string[]>();
    for (const line of text.replace(/\r?\n[ \t]+/g, " ").split("\n")) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      fields.set(name, [...(fields.get(name) ?? []), line.slice(colon + 1).trim()]);
    }
    return [...fields];
  }
  const piece = fc.constantFrom(
    "From",
    "to",
    "X",
    ":",
    ": ",
    "\r\n",
    "\n",
    "\r",
    " ",
    "\t",
    "a@b",
    "<id>",
    "\r\n ",
    "\n\t",
  );

  it("reads any block as split-then-parse does: folded lines, lines without a colon, bare CR and LF", () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const text = pieces.join("");
        expect([...parseHeaderBlock(text)]).toEqual(reference(text));
        expect([...parseHeaderBlock(Buffer.from(text))]).toEqual(reference(text));
        const only = new Set(["from", "x"]);
        expect([...parseHeaderBlock(text, only)]).toEqual(reference(text).filter(([name]) => only.has(name)));
      }),
      { numRuns: 3000 },
    );
  });

  it("a block of many lines without a colon yields no field from them and keeps the one that has a name", () => {
    const hostile = "no colon here\r\n".repeat(50_000) + "Subject: kept\r\n";
    expect([...parseHeaderBlock(hostile)]).toEqual([["subject", ["kept"]]]);
  });
});

describe("the fast path for simple address lists", () => {
  const chars = (alphabet: string, min: number, max: number) =>
    fc
      .array(fc.constantFrom(...alphabet.split("")), { minLength: min, maxLength: max })
      .map((a) => a.join(""));
  const local = chars("abcXYZ019._-+'!#$%&*/?^`{|}~", 1, 12);
  const label = chars("abcxyz019-", 1, 8);
  const domain = fc.array(label, { minLength: 1, maxLength: 3 }).map((labels) => labels.join("."));
  const name = chars("Anna MüllerJ'ö ", 0, 14);
  const mailbox = fc
    .tuple(name, local, domain, fc.boolean())
    .map(([n, l, d, angle]) => (angle || n.trim() !== "" ? `${n} <${l}@${d}>` : `${l}@${d}`));
  const list = fc.array(mailbox, { minLength: 1, maxLength: 4 }).map((items) => items.join(", "));

  it("T12: agrees with the full RFC 5322 parser whenever it answers", () => {
    fc.assert(
      fc.property(list, (value) => {
        const fast = parseSimpleAddressList(value);
        if (fast !== undefined) expect(fast).toEqual(parseAddressList(value));
      }),
      { numRuns: 2000 },
    );
  });

  it("answers for the common forms and leaves the rest to the full parser", () => {
    expect(parseSimpleAddressList("Anna <A.B@X.Example>, c@d.example")).toEqual([
      { name: "Anna", address: "a.b@x.example" },
      { address: "c@d.example" },
    ]);
    for (const hard of [
      '"Doe, John" <j@x.example>',
      "=?UTF-8?B?SsO8cmdlbg==?= <j@x.example>",
      "team: a@x.example;",
      "a@x.example (home)",
      "a@localhost",
      "a@bücher.example",
    ]) {
      expect(parseSimpleAddressList(hard), hard).toBeUndefined();
    }
  });
});

describe("the header block of a source", () => {
  it("R11: ends at the first blank line, CRLF or bare LF, whichever comes first; the whole source when there is none", () => {
    const block = (text: string) => headerBlockOf(Buffer.from(text)).toString();
    expect(block("A: 1\r\nB: 2\r\n\r\nbody\n\nmore")).toBe("A: 1\r\nB: 2\r\n\r\n");
    expect(block("A: 1\nB: 2\n\nbody\r\n\r\nmore")).toBe("A: 1\nB: 2\n\n");
    expect(block("A: 1\r\nB: 2\n\nbody\r\n\r\n")).toBe("A: 1\r\nB: 2\n\n");
    expect(block("A: 1\r\n\r\n\nbody")).toBe("A: 1\r\n\r\n");
    expect(block("A: 1\r\nB: 2")).toBe("A: 1\r\nB: 2");
    // The same answer as taking the nearer of the two ends, over any mix of line ends.
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("a", ":", " ", "\r", "\n", "\r\n"), { maxLength: 40 }),
        (parts) => {
          const source = Buffer.from(parts.join(""));
          const ends = [source.indexOf("\r\n\r\n"), source.indexOf("\n\n")]
            .map((at, i) => (at < 0 ? -1 : at + (i === 0 ? 4 : 2)))
            .filter((end) => end > 0);
          const expected = ends.length === 0 ? source : source.subarray(0, Math.min(...ends));
          expect(headerBlockOf(source).equals(expected)).toBe(true);
        },
      ),
    );
  });
});
