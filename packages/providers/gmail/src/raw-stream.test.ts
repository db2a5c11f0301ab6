import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ClientMailError } from "@clientmail/core";
import { RawMessageReader } from "./raw-stream.js";

function read(answer: Buffer, chunkSize: number): { message: unknown; source: Buffer } {
  const reader = new RawMessageReader();
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < answer.length; offset += chunkSize)
    pieces.push(...reader.push(answer.subarray(offset, offset + chunkSize)));
  return { message: reader.end(), source: Buffer.concat(pieces) };
}

describe("RawMessageReader", () => {
  const source = randomBytes(10_001);
  const answer = Buffer.from(
    JSON.stringify({
      id: "18c1",
      threadId: "18c0",
      labelIds: ["INBOX", "UNREAD"],
      snippet: 'he wrote \\"raw\\": \\"x\\" and {"raw":"no"}',
      sizeEstimate: 10_001,
      raw: source.toString("base64url"),
      internalDate: "1700000000000",
    }),
  );

  it("R7: decodes raw as it streams, in chunks of any size, and keeps the rest of the answer", () => {
    for (const chunkSize of [1, 3, 7, 64, 4096, answer.length]) {
      const { message, source: decoded } = read(answer, chunkSize);
      expect(decoded.equals(source), `chunks of ${chunkSize}`).toBe(true);
      expect(message).toEqual({
        id: "18c1",
        threadId: "18c0",
        labelIds: ["INBOX", "UNREAD"],
        snippet: 'he wrote \\"raw\\": \\"x\\" and {"raw":"no"}',
        sizeEstimate: 10_001,
        raw: "",
        internalDate: "1700000000000",
      });
    }
  });

  it("R7: an answer cut off before its end fails as a truncated body (retried), never as a shorter source", () => {
    for (const cut of [10, 200, answer.length - 40, answer.length - 1]) {
      const error = (() => {
        try {
          read(answer.subarray(0, cut), 512);
          return undefined;
        } catch (caught) {
          return caught;
        }
      })();
      expect(ClientMailError.hasCode(error, "transient"), `cut at ${cut}`).toBe(true);
      expect((error as ClientMailError).details.reason).toBe("truncatedBody");
    }
  });

  it("an answer without raw has no raw field", () => {
    expect(read(Buffer.from('{"id":"1","labelIds":["INBOX"]}'), 5).message).toEqual({
      id: "1",
      labelIds: ["INBOX"],
    });
  });
});
