/**
 * Property: whatever happens in the mailbox (arrivals, moves between synced and unsynced folders,
 * deletions, read flags), in whatever order relative to the delta pages, and with the service's
 * legal quirks (empty pages, duplicates, replays, partial updates) and crashes that resume from a
 * page's cursor, applying the pages converges to exactly the messages of the synced folders, and no
 * page ever reports as removed a message that is still in a synced folder (Y6, F8).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ChangePage } from "@clientmail/core/ports";
import { clientMessage, createHarness } from "./harness.js";

type Op =
  | { kind: "add"; folder: string }
  | { kind: "move"; pick: number; folder: string }
  | { kind: "delete"; pick: number }
  | { kind: "read"; pick: number }
  | { kind: "page" }
  | { kind: "crash" };

const folders = ["inbox", "sentitems", "archive", "deleteditems"];
const synced = ["inbox", "sentitems", "archive"];

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("add" as const), folder: fc.constantFrom(...folders) }),
  fc.record({ kind: fc.constant("move" as const), pick: fc.nat(), folder: fc.constantFrom(...folders) }),
  fc.record({ kind: fc.constant("delete" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("read" as const), pick: fc.nat() }),
  fc.constant({ kind: "page" as const }),
  fc.constant({ kind: "page" as const }),
  fc.constant({ kind: "crash" as const }),
);

describe("graph adapter: delta convergence", () => {
  it("Y6/F8: applying delta pages converges to the synced folders' contents, under any interleaving, quirks and crashes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArbitrary, { minLength: 1, maxLength: 40 }),
        fc.record({
          emptyPagesPerRound: fc.integer({ min: 0, max: 2 }),
          duplicateItems: fc.boolean(),
          replayOverlap: fc.integer({ min: 0, max: 3 }),
          partialUpdates: fc.boolean(),
        }),
        async (ops, quirks) => {
          const h = createHarness({ fake: { quirks }, provider: { folders: synced, pageSize: 2 } });
          const view = new Map<string, string>();
          let saved: string | undefined;
          let iterator: AsyncIterator<ChangePage> | undefined;
          let serial = 0;
          const syncedFolderIds = new Set(synced.map((f) => h.mailbox.folderId(f)));
          const apply = (page: ChangePage) => {
            for (const id of page.removed) {
              // Never report as removed a message that still lives in a synced folder (F8 would delete filed mail).
              expect(
                syncedFolderIds.has(h.mailbox.message(id)?.folderId),
                `removed ${id} is still synced`,
              ).toBe(false);
              view.delete(id);
            }
            for (const envelope of page.added) view.set(envelope.providerId, envelope.folder);
            saved = page.cursor;
          };
          const live = () => h.mailbox.messageIds();
          const pickId = (n: number) => {
            const ids = live();
            return ids.length === 0 ? undefined : ids[n % ids.length];
          };
          for (const op of ops) {
            switch (op.kind) {
              case "add":
                h.mailbox.addMessage(clientMessage(serial++, { folder: op.folder }));
                break;
              case "move": {
                const id = pickId(op.pick);
                if (id) h.mailbox.moveMessage(id, op.folder);
                break;
              }
              case "delete": {
                const id = pickId(op.pick);
                if (id) h.mailbox.deleteMessage(id);
                break;
              }
              case "read": {
                const id = pickId(op.pick);
                if (id) h.mailbox.markRead(id, true);
                break;
              }
              case "page": {
                iterator ??= h.provider.changes(saved)[Symbol.asyncIterator]();
                const next = await iterator.next();
                if (next.done) iterator = undefined;
                else {
                  apply(next.value);
                  if (next.value.done) iterator = undefined;
                }
                break;
              }
              case "crash":
                // The page in flight is lost; the next pass resumes from the last saved cursor.
                iterator = undefined;
                break;
            }
          }
          // Two quiet passes: the first may still carry changes made during the last one.
          for (let i = 0; i < 2; i++) {
            for await (const page of h.provider.changes(saved)) apply(page);
          }
          const expected = new Map<string, string>();
          for (const folder of synced)
            for (const id of h.mailbox.messageIds(folder)) expected.set(id, folder);
          expect(new Map([...view.entries()].sort())).toEqual(new Map([...expected.entries()].sort()));
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);
});
