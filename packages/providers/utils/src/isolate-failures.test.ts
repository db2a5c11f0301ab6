import { describe, expect, it } from "vitest";
import { ClientMailError, isUnreadable, type FetchResult, type ProviderEnvelope } from "@clientmail/core";
import { MessageRefusedError, isolateFailures } from "./isolate-failures.js";

function message(providerId: string): FetchResult {
  return { envelope: { providerId } as ProviderEnvelope, text: "", html: undefined, attachments: [] };
}

async function collect(iterable: AsyncIterable<FetchResult>) {
  const out: FetchResult[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** A server that refuses any group containing one of `bad`, after delivering the ids before it. */
function server(bad: Set<string>, calls: string[][]) {
  return async function* (ids: readonly string[]) {
    calls.push([...ids]);
    for (const id of ids) {
      if (bad.has(id)) throw new MessageRefusedError("NO");
      yield message(id);
    }
  };
}

describe("isolateFailures", () => {
  it("R1: a group refused because of one message delivers the rest; only that message is unreadable", async () => {
    const calls: string[][] = [];
    const results = await collect(isolateFailures(["a", "b", "c", "d"], server(new Set(["b"]), calls)));
    expect(
      results
        .filter((r) => !isUnreadable(r))
        .map((r) => (r as { envelope: ProviderEnvelope }).envelope.providerId),
    ).toEqual(["a", "c", "d"]);
    expect(results.filter(isUnreadable)).toEqual([
      { providerId: "b", unreadable: { reason: "server_refused", detail: "NO" } },
    ]);
    // "a" was delivered before the refusal and is not fetched again.
    expect(calls).toEqual([["a", "b", "c", "d"], ["b"], ["c"], ["d"]]);
  });

  it("R1: messages the server named as refused are set aside without asking again", async () => {
    const calls: string[][] = [];
    const naming = async function* (ids: readonly string[]): AsyncGenerator<FetchResult> {
      calls.push([...ids]);
      for (const id of ids) if (id !== "b") yield message(id);
      if (ids.includes("b")) throw new MessageRefusedError("IMAP NO", { refusedIds: ["b"] });
    };
    const results = await collect(isolateFailures(["a", "b", "c"], naming));
    expect(results.filter(isUnreadable).map((r) => r.providerId)).toEqual(["b"]);
    expect(results).toHaveLength(3);
    expect(calls).toEqual([["a", "b", "c"]]);
  });

  it("R1: a connection failure is thrown, never turned into unreadable messages", async () => {
    const lost = new ClientMailError("transient", "connection lost");
    const failing = async function* (ids: readonly string[]): AsyncGenerator<FetchResult> {
      yield message(ids[0]!);
      throw lost;
    };
    await expect(collect(isolateFailures(["a", "b"], failing))).rejects.toBe(lost);
  });

  it("R1: a connection failure while isolating is thrown too", async () => {
    const lost = new ClientMailError("transient", "connection lost");
    let call = 0;
    const failing = async function* (ids: readonly string[]): AsyncGenerator<FetchResult> {
      call += 1;
      if (call === 1) throw new MessageRefusedError("NO");
      if (ids.length > 1) yield message(ids[0]!);
      throw lost;
    };
    await expect(collect(isolateFailures(["a", "b"], failing))).rejects.toBe(lost);
  });
});
