import type { FetchMessageObject, ImapFlow } from "imapflow";
import { describe, expect, it } from "vitest";
import { fetchEnvelopes } from "./envelope.js";

/** A client whose FETCH answers the given UIDs in the given order, each with a Message-ID. */
function answering(order: readonly number[]): ImapFlow {
  return {
    capabilities: new Map(),
    async *fetch() {
      for (const uid of order)
        yield {
          uid,
          size: 100 + uid,
          flags: new Set<string>(),
          headers: Buffer.from(`Message-ID: <m${uid}@x.example>\r\n\r\n`),
        } as unknown as FetchMessageObject;
    },
  } as unknown as ImapFlow;
}

describe("fetchEnvelopes", () => {
  it("Y2: hands out envelopes ascending by UID with their UIDs, whatever order the server answers in", async () => {
    for (const order of [
      [3, 5, 9],
      [9, 3, 5],
      [5, 9, 3, 4], // 4 was not asked for
    ]) {
      const listed = await fetchEnvelopes(answering(order), "INBOX", "7", [3, 5, 9]);
      expect(listed.uids, order.join()).toEqual([3, 5, 9]);
      expect(
        listed.envelopes.map((envelope) => [envelope.providerId, envelope.messageId, envelope.size]),
      ).toEqual([3, 5, 9].map((uid) => [`INBOX:7:${uid}`, `<m${uid}@x.example>`, 100 + uid]));
    }
  });
});
