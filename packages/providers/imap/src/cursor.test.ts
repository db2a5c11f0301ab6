import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ClientMailError } from "@clientmail/core";
import {
  decodeCursor,
  encodeCursor,
  fromRanges,
  parseProviderId,
  providerIdOf,
  toRanges,
  type CursorState,
} from "./cursor.js";

describe("imap cursor", () => {
  it("compresses UIDs into sequence sets and back", () => {
    expect(toRanges([1, 2, 3, 5, 7, 8])).toBe("1:3,5,7:8");
    expect(toRanges([])).toBe("");
    expect(fromRanges("1:3,5,7:8")).toEqual([1, 2, 3, 5, 7, 8]);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 5000 }), { maxLength: 300 }), (uids) => {
        const sorted = [...uids].sort((a, b) => a - b);
        expect(fromRanges(toRanges(sorted))).toEqual(sorted);
      }),
    );
  });

  it("round-trips per-folder state, including modseq and uidNext", () => {
    const state: CursorState = new Map([
      [
        "INBOX",
        { uidValidity: "1795438825", uids: [1, 2, 3, 9], highestModseq: "18446744073709551615", uidNext: 10 },
      ],
      ["Sent: 2024", { uidValidity: "7", uids: [], highestModseq: undefined, uidNext: undefined }],
    ]);
    const cursor = encodeCursor(state);
    expect(cursor.startsWith("imap1.")).toBe(true);
    expect(decodeCursor(cursor)).toEqual(state);
    expect(encodeCursor(decodeCursor(cursor))).toBe(cursor);
  });

  it("rejects a cursor it did not write, naming the field", () => {
    for (const bad of [
      "",
      "gmail:123",
      "imap1.!!!",
      `imap1.${Buffer.from('{"f":{"INBOX":{"v":"x","u":""}}}').toString("base64url")}`,
    ]) {
      let error: unknown;
      try {
        decodeCursor(bad);
      } catch (e) {
        error = e;
      }
      expect(ClientMailError.hasCode(error, "validation_failed"), bad).toBe(true);
      expect((error as ClientMailError).details.issues).toMatchObject([{ field: "cursor" }]);
    }
  });

  it("builds provider ids that survive colons in folder names", () => {
    const id = providerIdOf("Clients:2024/Acme", 42n, 7);
    expect(id).toBe("Clients:2024/Acme:42:7");
    expect(parseProviderId(id)).toEqual({ folder: "Clients:2024/Acme", uidValidity: "42", uid: 7 });
    expect(parseProviderId("INBOX:42")).toBeUndefined();
    expect(parseProviderId("INBOX:42:0")).toBeUndefined();
  });
});
