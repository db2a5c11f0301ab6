import { describe, expect, it } from "vitest";
import { ClientMailError, ValidationError } from "../errors.js";
import { decodeEncodedWords, domainToAscii, normalizeAddress, parseAddressList } from "./addresses.js";

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

  it("unfolds folded headers", () => {
    expect(parseAddressList("Ann <ann@a.com>,\r\n Bob <bob@b.com>").map((a) => a.address)).toEqual([
      "ann@a.com",
      "bob@b.com",
    ]);
  });
});
