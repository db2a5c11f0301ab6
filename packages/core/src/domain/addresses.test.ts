import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ClientMailError, ValidationError } from "../errors.js";
import { decodeEncodedWords, domainToAscii, normalizeAddress, parseAddressList } from "./addresses.js";
import { decideFiling, FirmDirectory } from "./filing.js";

function validationIssue(run: () => unknown) {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues[0];
  }
  throw new Error("expected a validation error");
}

describe("normalizeAddress", () => {
  it("T12: trims, lower-cases and converts IDN domains to ASCII", () => {
    expect(normalizeAddress("  Jane.Doe@Example.COM ")).toBe("jane.doe@example.com");
    expect(normalizeAddress("jose@Bücher.de")).toBe("jose@xn--bcher-kva.de");
    expect(domainToAscii("münchen.example")).toBe("xn--mnchen-3ya.example");
  });

  it("T12: rejects an invalid address with an error naming the field and the value", () => {
    for (const bad of [
      "",
      "not an address",
      "a@",
      "@b.com",
      "a@b",
      "a b@c.com",
      "a@exa mple.com",
      "x@y.com\r\nBcc: z@w.com",
    ]) {
      let caught: unknown;
      try {
        normalizeAddress(bad, "links.0.email");
      } catch (error) {
        caught = error;
      }
      expect(caught, bad).toBeInstanceOf(ValidationError);
      const error = caught as ValidationError;
      expect(error.code).toBe("validation_failed");
      expect(ClientMailError.isInstance(error)).toBe(true);
      expect(error.issues[0]).toMatchObject({ field: "links.0.email", value: bad });
      expect(error.message).toContain("links.0.email");
    }
  });

  // Each form an address is commonly typed or pasted in, and the one stored address it means.
  const typedForms: Array<[form: string, typed: string, stored: string]> = [
    ["no-break space after it", "jo@home.example\u00a0", "jo@home.example"],
    ["no-break space before the @", "jo\u00a0@home.example", "jo@home.example"],
    ["narrow no-break space before it", "\u202fjo@home.example", "jo@home.example"],
    ["zero-width space inside", "jo\u200b@home.example", "jo@home.example"],
    ["zero-width joiner inside", "j\u200do@home.example", "jo@home.example"],
    ["zero-width non-joiner in the domain", "jo@home\u200c.example", "jo@home.example"],
    ["byte order mark before it", "\ufeffjo@home.example", "jo@home.example"],
    ["soft hyphen inside", "jo\u00ad@home.example", "jo@home.example"],
    ["decomposed é in the local part (NFD)", "jose\u0301@home.example", "jos\u00e9@home.example"],
    ["decomposed ü in the domain (NFD)", "kunde@bu\u0308cher.example", "kunde@xn--bcher-kva.example"],
    ["composed ü in the domain (NFC)", "kunde@b\u00fccher.example", "kunde@xn--bcher-kva.example"],
    ["a trailing dot of the domain", "jo@home.example.", "jo@home.example"],
    ["upper case with a trailing dot", "JO@HOME.EXAMPLE.", "jo@home.example"],
    ["quotes that are not needed", '"jo"@home.example', "jo@home.example"],
  ];
  it.each(typedForms)("T12: normalises an address typed with %s", (_form, typed, stored) => {
    expect(normalizeAddress(typed)).toBe(stored);
  });

  it("T12: refuses what cannot be normalised, naming the field, the value and what was expected", () => {
    for (const bad of [
      "jo\u00a0smith@home.example",
      "jo\u200b smith@home.example",
      "jo@home.example..",
      "jo@home..example",
      "jo\u0000@home.example",
      "jo@home.example\u0007",
      "Jo <jo@home.example>",
    ]) {
      const issue = validationIssue(() => normalizeAddress(bad, "contacts.0.emails.0.email"));
      expect(issue, JSON.stringify(bad)).toMatchObject({
        field: "contacts.0.emails.0.email",
        value: bad,
        expected: expect.stringContaining("an email address like name@example.com"),
      });
    }
    expect(validationIssue(() => normalizeAddress("jo\u0000@home.example"))?.expected).toContain(
      "without control characters",
    );
  });

  it("T12: keeps quoted local parts quoted", () => {
    expect(normalizeAddress('"john smith"@example.com')).toBe('"john smith"@example.com');
  });
});

describe("parseAddressList", () => {
  it("parses display names, quoted names, groups and comments", () => {
    const list = parseAddressList(
      '"Doe, Jane" <Jane@Example.com>, Team: a@b.co, (note) c@d.co;, plain@x.org',
    );
    expect(list).toEqual([
      { name: "Doe, Jane", address: "jane@example.com" },
      { address: "a@b.co" },
      { address: "c@d.co" },
      { address: "plain@x.org" },
    ]);
  });

  it("decodes RFC 2047 encoded words in display names", () => {
    expect(parseAddressList("=?UTF-8?B?w4lsaXNl?= <elise@x.fr>")).toEqual([
      { name: "Élise", address: "elise@x.fr" },
    ]);
    expect(decodeEncodedWords("=?iso-8859-1?Q?Andr=E9?= =?utf-8?q?_Dupont?=")).toBe("André Dupont");
    expect(decodeEncodedWords("=?x-unknown?B?AAAA?=")).toBe("=?x-unknown?B?AAAA?=");
  });

  it("recovers what it can from a malformed header unless strict", () => {
    expect(parseAddressList("broken <<a@b.com>> ,, c@d.com")).toEqual([
      { address: "a@b.com" },
      { address: "c@d.com" },
    ]);
    expect(() => parseAddressList("broken <<a@b.com>>", { strict: true, field: "to" })).toThrow(/to: got/);
  });

  it("T12: a display name is never an address, quoted, encoded or malformed", () => {
    for (const header of [
      '"jo@home.example" <attacker@evil.example>',
      "jo@home.example <attacker@evil.example>",
      '"Jo <jo@home.example>" <attacker@evil.example>',
      "=?UTF-8?Q?jo=40home.example?= <attacker@evil.example>",
      "(jo@home.example) attacker@evil.example",
      '"jo@home.example, again" <attacker@evil.example>, broken <<x',
      'jo@home.example "unclosed <attacker@evil.example>',
    ])
      expect(
        parseAddressList(header).map((a) => a.address),
        header,
      ).toEqual(["attacker@evil.example"]);
  });

  it("T12: a display name is never an address (property over names that hold addresses)", () => {
    const word = fc.constantFrom("Jo", "jo@home.example", "<jo@home.example>", "Ltd.", "=?x?", "Müller");
    const quotedOnly = fc.constantFrom(",", ";", "(jo@home.example)", "jo@home.example, x@y.example");
    const quotedName = fc
      .array(fc.oneof(word, quotedOnly), { minLength: 1, maxLength: 4 })
      .map((w) => `"${w.join(" ").replace(/(["\\])/g, "\\$1")}"`);
    const bareName = fc
      .array(
        word.filter((w) => !w.includes("<")),
        { minLength: 1, maxLength: 3 },
      )
      .map((w) => w.join(" "));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.oneof(quotedName, bareName), fc.integer({ min: 0, max: 9 })), {
          minLength: 1,
          maxLength: 3,
        }),
        (entries) => {
          const header = entries.map(([name, n]) => `${name} <sender${n}@evil.example>`).join(", ");
          const addresses = parseAddressList(header).map((a) => a.address);
          expect(addresses).toEqual(entries.map(([, n]) => `sender${n}@evil.example`));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("T12: addresses in headers get the same normalisation as typed ones", () => {
    expect(
      parseAddressList(
        "Jo <jo\u200b@home.example>, kunde@bu\u0308cher.example, Ann <ann@acme.example.>, jo\u00a0@home.example",
      ).map((a) => a.address),
    ).toEqual(["jo@home.example", "kunde@xn--bcher-kva.example", "ann@acme.example", "jo@home.example"]);
  });

  it("F1: an address typed with invisible characters matches the same address in mail, both ways", () => {
    const typed = ["\ufeffJo\u200b@Home.Example.\u00a0", "kunde@bu\u0308cher.example"];
    const directory = FirmDirectory.build({
      internalAddresses: ["ann@firm.example"],
      internalDomains: [],
      links: typed.map((email, i) => ({
        id: `l${i}`,
        accountId: `a${i}`,
        email: normalizeAddress(email),
        emailSync: true,
      })),
    });
    const envelope = (from: string) => ({
      from: parseAddressList(from),
      sender: [],
      replyTo: [],
      to: parseAddressList("Ann <ann@firm.example>"),
      cc: [],
      bcc: [],
    });
    for (const [from, accountId] of [
      ["Jo <jo@home.example>", "a0"],
      ["Jo <JO@home.example.>", "a0"],
      ["jo\u200d@home.example", "a0"],
      ["Kunde <kunde@b\u00fccher.example>", "a1"],
      ["Kunde <kunde@xn--bcher-kva.example>", "a1"],
    ] as const) {
      expect(decideFiling(directory, envelope(from)), from).toMatchObject({
        filed: true,
        accountIds: [accountId],
      });
    }
    // The display name is not a participant: Jo's address there does not file attacker's mail.
    expect(decideFiling(directory, envelope("jo@home.example <attacker@evil.example>")).filed).toBe(false);
    expect(decideFiling(directory, envelope('"jo@home.example" <attacker@evil.example>')).filed).toBe(false);
  });

  it("unfolds folded headers", () => {
    expect(parseAddressList("Ann <ann@a.com>,\r\n Bob <bob@b.com>").map((a) => a.address)).toEqual([
      "ann@a.com",
      "bob@b.com",
    ]);
  });
});
