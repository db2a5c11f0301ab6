/**
 * R7 through the engine: a pass holds the page it is filing and the one listed ahead, never the
 * pages it has already filed. Checked with the garbage collector itself: while page N is listed,
 * the envelopes of pages well behind it must be collectable.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import type { MailProvider } from "../../src/ports/index.js";
import { at, makeFirm, minutes } from "./firm-fixture.js";

setFlagsFromString("--expose_gc");
const collectGarbage = runInNewContext("gc") as () => void;

describe("pass memory", () => {
  it("R7: pages already filed are let go while the pass lists the rest of a long backfill", async () => {
    const f = await makeFirm({ pageSize: 4 });
    const box = f.boxes.ann.id;
    for (let i = 0; i < 120; i++) {
      f.box(box).append({
        from: [at(i % 3 === 0 ? "jo@home.example" : `friend${i}@elsewhere.example`)],
        to: [at("ann@ledger.example")],
        subject: `Message ${i}`,
        messageId: `<m${i}@home.example>`,
        date: minutes(i),
        text: "x".repeat(2_000),
      });
    }
    const inner = f.box(box).provider();
    const listed: Array<WeakRef<object>> = [];
    const stillHeld: number[] = [];
    const watched: MailProvider = {
      ...inner,
      changes: async function* (cursor, options) {
        for await (const page of inner.changes(cursor, options)) {
          // Pages more than three behind this one have been filed and must be unreachable.
          if (listed.length >= 10) {
            await new Promise((resolve) => setTimeout(resolve, 0));
            collectGarbage();
            const behind = listed.slice(0, listed.length - 3);
            stillHeld.push(behind.filter((ref) => ref.deref() !== undefined).length);
          }
          listed.push(new WeakRef(page.added));
          yield page;
        }
      },
    };
    await f.sync(box, { provider: watched }).syncOnce();
    expect(listed.length).toBe(30);
    expect(stillHeld.length).toBe(20);
    expect(stillHeld).toEqual(Array.from({ length: 20 }, () => 0));
  });
});
