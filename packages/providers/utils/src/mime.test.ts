import { ClientMailError } from "@clientmail/core";
import type { OutgoingMessage } from "@clientmail/core/ports";
import fc from "fast-check";
import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { COMPOSED_ID_HEADER, buildMime } from "./mime.js";

function message(overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    messageId: "<m1@firm.example>",
    from: { address: "anna@firm.example", name: "Anna Partner" },
    to: [{ address: "client@client.example", name: "Client" }],
    cc: [],
    bcc: [],
    subject: "Engagement letter",
    text: "Hello",
    attachments: [],
    date: new Date("2026-11-30T09:00:00Z"),
    ...overrides,
  };
}

/** Header names of the top-level header block, lower-cased, in order. */
function topHeaderNames(raw: Buffer): string[] {
  const text = raw.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  return text
    .slice(0, end)
    .split("\r\n")
    .filter((line) => !/^[ \t]/.test(line))
    .map((line) => line.slice(0, line.indexOf(":")).toLowerCase());
}

const unsafeChar = fc.constantFrom("\r", "\n", "\r\n", "\u0000", "\u000b", "\u0085", "\u2028", "\u007f");
/** Any text, sometimes with a header-breaking character spliced in. */
const hostileText = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc
    .tuple(fc.string({ unit: "grapheme", maxLength: 20 }), unsafeChar, fc.string({ maxLength: 20 }))
    .map(([a, b, c]) => `${a}${b}${c}\nBcc: attacker@evil.example`),
);
const atom = fc.stringMatching(/^[a-z0-9][a-z0-9.+_-]{0,10}[a-z0-9]$/).filter((s) => !s.includes(".."));
const validAddress = fc
  .tuple(atom, atom, fc.constantFrom("example", "test", "co.uk"))
  .map(([l, d, t]) => `${l}@${d}.${t}`);
const hostileAddress = fc.oneof(
  validAddress,
  fc.tuple(validAddress, unsafeChar, validAddress).map(([a, b, c]) => `${a}${b}${c}`),
);
const validMsgId = fc.tuple(atom, atom).map(([l, r]) => `<${l}@${r}.example>`);
const hostileMsgId = fc.oneof(
  validMsgId,
  fc.tuple(validMsgId, unsafeChar, fc.string({ maxLength: 10 })).map(([a, b, c]) => `${a}${b}${c}`),
  fc.string({ maxLength: 20 }),
);

const hasUnsafe = (value: string): boolean =>
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u.test(value) ||
  /\p{Cs}/u.test(value.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""));

describe("buildMime (S6: header safety)", () => {
  it("S6: writes Message-ID, In-Reply-To and References exactly as composed, and the composed id header", async () => {
    const built = await buildMime(
      message({ inReplyTo: "<a@x.example>", references: "<r@x.example> <a@x.example>" }),
      { bccHeader: false },
    );
    const parsed = await simpleParser(built.raw);
    expect(parsed.messageId).toBe("<m1@firm.example>");
    expect(parsed.inReplyTo).toBe("<a@x.example>");
    expect(parsed.references).toEqual(["<r@x.example>", "<a@x.example>"]);
    expect(parsed.headers.get(COMPOSED_ID_HEADER.toLowerCase())).toBe("<m1@firm.example>");
  });

  it("S6: Bcc is only in the envelope unless the provider takes it from the header", async () => {
    const m = message({ bcc: [{ address: "hidden@firm.example" }] });
    const smtp = await buildMime(m, { bccHeader: false });
    expect(topHeaderNames(smtp.raw)).not.toContain("bcc");
    expect(smtp.envelope.to).toContain("hidden@firm.example");
    const api = await buildMime(m, { bccHeader: true });
    expect(topHeaderNames(api.raw)).toContain("bcc");
  });

  it("S6: a CR/LF in the subject is refused naming the field, not folded into a header", async () => {
    const error = await buildMime(message({ subject: "Hi\r\nBcc: attacker@evil.example" }), {
      bccHeader: false,
    }).catch((e: unknown) => e);
    expect(ClientMailError.hasCode(error, "validation_failed")).toBe(true);
    expect((error as ClientMailError).message).toContain("subject");
  });

  it("S6: generated hostile subjects, names, addresses and Message-IDs never produce an extra header", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          subject: hostileText,
          fromName: hostileText,
          toName: hostileText,
          to: hostileAddress,
          cc: fc.option(hostileAddress, { nil: undefined }),
          messageId: hostileMsgId,
          inReplyTo: fc.option(hostileMsgId, { nil: undefined }),
          filename: fc.option(hostileText, { nil: undefined }),
        }),
        async (input) => {
          const m = message({
            subject: input.subject,
            from: { address: "anna@firm.example", name: input.fromName },
            to: [{ address: input.to, name: input.toName }],
            cc: input.cc === undefined ? [] : [{ address: input.cc }],
            messageId: input.messageId,
            inReplyTo: input.inReplyTo,
            references: input.inReplyTo,
            attachments:
              input.filename === undefined
                ? []
                : [
                    {
                      filename: input.filename,
                      contentType: "text/plain",
                      content: new Uint8Array([104, 105]),
                    },
                  ],
          });
          const oneLine = [
            input.subject,
            input.fromName,
            input.toName,
            input.to,
            input.cc ?? "",
            input.messageId,
            input.inReplyTo ?? "",
            input.filename ?? "",
          ];
          const wellFormedId = (id: string) =>
            /^<[a-z0-9.+_-]+@[a-z0-9.+_-]+\.example>$/.test(id) && !id.includes("..");
          const valid =
            !oneLine.some(hasUnsafe) &&
            wellFormedId(input.messageId) &&
            (input.filename === undefined || input.filename.trim() !== "") &&
            (input.inReplyTo === undefined || wellFormedId(input.inReplyTo));
          let built;
          try {
            built = await buildMime(m, { bccHeader: false });
          } catch (error) {
            expect(ClientMailError.hasCode(error, "validation_failed")).toBe(true);
            expect(valid).toBe(false);
            return;
          }
          expect(valid).toBe(true);
          const expected = [
            "content-type",
            "from",
            "to",
            ...(input.cc === undefined ? [] : ["cc"]),
            // An empty subject is left out, as RFC 5322 allows.
            ...(input.subject === "" ? [] : ["subject"]),
            "message-id",
            COMPOSED_ID_HEADER.toLowerCase(),
            ...(input.inReplyTo === undefined ? [] : ["in-reply-to", "references"]),
            "date",
            "mime-version",
            ...(input.filename === undefined ? ["content-transfer-encoding"] : []),
          ].sort();
          expect(topHeaderNames(built.raw).sort()).toEqual(expected);
          const parsed = await simpleParser(built.raw);
          expect(parsed.subject ?? "").toBe(input.subject);
          expect(parsed.messageId).toBe(input.messageId);
          const to = Array.isArray(parsed.to) ? parsed.to[0] : parsed.to;
          expect(to?.value).toEqual([{ address: input.to, name: input.toName }]);
          const from = Array.isArray(parsed.from) ? parsed.from[0] : parsed.from;
          expect(from?.value).toEqual([{ address: "anna@firm.example", name: input.fromName }]);
          if (input.filename !== undefined) expect(parsed.attachments[0]?.filename).toBe(input.filename);
        },
      ),
      { numRuns: 300 },
    );
  }, 60_000);
});
