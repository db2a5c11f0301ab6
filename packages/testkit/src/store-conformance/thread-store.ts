/**
 * `ThreadStore` conformance: thread keys, conflicts and merges (H3), the subject index and
 * the threading lock (H1), and an account's thread listings (H4, H5, F7).
 */
import { describe, expect, it } from "vitest";
import type { FilingStore, ThreadStore } from "@clientmail/core/ports";
import { expectCode, message, minutes, seedFirm, t0, type SeedingStore } from "./fixtures.js";
import { describeStoreSuite, type StoreConformanceOptions, type Transactional } from "./options.js";

/**
 * The ThreadStore suite. Threads hold filed messages, so the store files them
 * (`FilingStore`); the threading lock is taken inside a transaction.
 */
export function threadStoreConformance(
  options: StoreConformanceOptions<Transactional<SeedingStore & ThreadStore & FilingStore>>,
): void {
  describeStoreSuite(options, "ThreadStore", () => {
    describe("threads", () => {
      it("H3: keys map to threads, conflicts are reported, merges move messages, keys and mutes", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "threads");
        const other = await store.createThread(seed.firm.id);
        expect(await store.attachThreadKeys(seed.firm.id, seed.thread, ["k1", "k2", "k1"])).toEqual([]);
        expect(await store.attachThreadKeys(seed.firm.id, seed.thread, ["k1"])).toEqual([]);
        expect(await store.attachThreadKeys(seed.firm.id, other, ["k2", "k3"])).toEqual([
          { key: "k2", threadId: seed.thread },
        ]);
        expect(
          Object.fromEntries(await store.findThreadsByKeys(seed.firm.id, ["k1", "k2", "k3", "k4"])),
        ).toEqual({
          k1: seed.thread,
          k2: seed.thread,
          k3: other,
        });
        await store.fileMessages(seed.firm.id, [message(seed, 1), message(seed, 2, { threadId: other })], t0);
        await store.setThreadMuted(seed.firm.id, other, seed.member.id, true);
        await store.setThreadMuted(seed.firm.id, other, seed.member.id, true);
        expect(await store.listThreadMutes(seed.firm.id, other)).toEqual([seed.member.id]);

        await store.mergeThreads(seed.firm.id, seed.thread, [other]);
        await store.mergeThreads(seed.firm.id, seed.thread, [other]);
        expect((await store.listThreadMessages(seed.firm.id, seed.thread)).map((m) => m.subject)).toEqual([
          "Invoice 1",
          "Invoice 2",
        ]);
        expect(await store.listThreadMessages(seed.firm.id, other)).toEqual([]);
        expect((await store.findThreadsByKeys(seed.firm.id, ["k3"])).get("k3")).toBe(seed.thread);
        expect(await store.listThreadMutes(seed.firm.id, seed.thread)).toEqual([seed.member.id]);
        await store.setThreadMuted(seed.firm.id, seed.thread, seed.member.id, false);
        expect(await store.listThreadMutes(seed.firm.id, seed.thread)).toEqual([]);
        await expectCode(store.attachThreadKeys(seed.firm.id, other, ["k9"]), "not_found");
      });

      it("H1: the subject index finds threads by key within the window, open entries only for closed probes, and follows merges", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "subjects");
        const F = seed.firm.id;
        const day = 24 * 60 * 60 * 1000;
        const window = 30 * day;
        const other = await store.createThread(F);
        const third = await store.createThread(F);
        await store.addSubjectEntries(F, seed.thread, [{ key: "s:invoice:cleo", at: t0, open: true }]);
        await store.addSubjectEntries(F, other, [
          { key: "s:invoice:cleo", at: new Date(t0.getTime() + 20 * day), open: false },
        ]);
        await store.addSubjectEntries(F, third, [
          { key: "s:invoice:cleo", at: new Date(t0.getTime() + 60 * day), open: true },
        ]);
        const probe = (days: number, open: boolean, key = "s:invoice:cleo") => ({
          key,
          at: new Date(t0.getTime() + days * day),
          open,
        });
        const found = await store.findSubjectThreads(
          F,
          [
            probe(10, true),
            probe(10, false),
            probe(30, false),
            probe(45, true),
            probe(0, true, "s:other:cleo"),
          ],
          window,
        );
        expect(found[0]).toEqual([seed.thread, other].sort());
        // A probe that is not open links only to open entries.
        expect(found[1]).toEqual([seed.thread]);
        // The window is inclusive: 30 days from the first entry still links.
        expect(found[2]).toEqual([seed.thread, third].sort());
        expect(found[3]).toEqual([other, third].sort());
        expect(found[4]).toEqual([]);
        await store.mergeThreads(F, seed.thread, [other]);
        expect((await store.findSubjectThreads(F, [probe(10, true)], window))[0]).toEqual([seed.thread]);
        await expectCode(store.addSubjectEntries(F, other, [probe(1, true)]), "not_found");
        await store.lockThreads(F);
        await store.transaction(async (tx) => {
          await tx.lockThreads(F);
          await tx.lockThreads(F);
        });
      });

      it("H1, H3: the batched forms act as one call per entry, in order, and refuse as the single calls do", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "batched");
        const F = seed.firm.id;
        expect(await store.createThreads(F, 0)).toEqual([]);
        const [a, b, c] = await store.createThreads(F, 3);
        expect(new Set([a, b, c, seed.thread]).size).toBe(4);
        for (const bad of [-1, 1.5, Number.NaN])
          await expectCode(store.createThreads(F, bad), "validation_failed");
        await expectCode(store.createThreads("no-such-firm", 1), "not_found");

        await store.attachThreadKeys(F, seed.thread, ["old"]);
        expect(
          await store.attachThreadKeysBatch(F, [
            { threadId: a!, keys: ["x", "old", "x"] },
            { threadId: b!, keys: ["x", "y"] },
            { threadId: a!, keys: ["x"] },
            { threadId: c!, keys: [] },
          ]),
        ).toEqual([[{ key: "old", threadId: seed.thread }], [{ key: "x", threadId: a }], [], []]);
        expect(Object.fromEntries(await store.findThreadsByKeys(F, ["x", "y", "old"]))).toEqual({
          x: a,
          y: b,
          old: seed.thread,
        });
        // An unknown thread anywhere in the batch attaches nothing.
        await expectCode(
          store.attachThreadKeysBatch(F, [
            { threadId: c!, keys: ["z"] },
            { threadId: "no-such-thread", keys: ["w"] },
          ]),
          "not_found",
        );
        expect((await store.findThreadsByKeys(F, ["z", "w"])).size).toBe(0);
        await expectCode(
          store.attachThreadKeysBatch(F, [{ threadId: c!, keys: ["bad\u0000key"] }]),
          "validation_failed",
        );

        const day = 24 * 60 * 60 * 1000;
        await store.addSubjectEntriesBatch(F, [
          { threadId: a!, entries: [{ key: "s:tax:cleo", at: t0, open: true }] },
          { threadId: b!, entries: [{ key: "s:tax:cleo", at: new Date(t0.getTime() + day), open: false }] },
          { threadId: c!, entries: [] },
        ]);
        const probe = [{ key: "s:tax:cleo", at: new Date(t0.getTime() + 2 * day), open: true }];
        expect((await store.findSubjectThreads(F, probe, 30 * day))[0]).toEqual([a, b].sort());
        await expectCode(
          store.addSubjectEntriesBatch(F, [
            { threadId: c!, entries: [{ key: "s:tax:cleo", at: t0, open: true }] },
            { threadId: "no-such-thread", entries: [] },
          ]),
          "not_found",
        );
        expect((await store.findSubjectThreads(F, probe, 30 * day))[0]).toEqual([a, b].sort());
        await expectCode(
          store.addSubjectEntriesBatch(F, [
            { threadId: c!, entries: [{ key: "bad\u0000", at: t0, open: true }] },
          ]),
          "validation_failed",
        );

        await store.setThreadMuted(F, b!, seed.member.id, true);
        const mutes = await store.listThreadMutesBatch(F, [a!, b!, "no-such-thread"]);
        expect(Object.fromEntries(mutes)).toEqual({ [a!]: [], [b!]: [seed.member.id], "no-such-thread": [] });
        expect((await store.listThreadMutesBatch(F, [])).size).toBe(0);
      });

      it("H1, H3: a transaction that merged threads, attached keys and indexed subjects rolls back exactly, later lookups and writes included", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "rollback");
        const F = seed.firm.id;
        const day = 24 * 60 * 60 * 1000;
        const window = 30 * day;
        const at = (days: number) => new Date(t0.getTime() + days * day);
        const entry = (key: string, days: number, open: boolean) => ({ key, at: at(days), open });
        const a = seed.thread;
        const [b, c] = (await store.createThreads(F, 2)) as [string, string];
        await store.attachThreadKeys(F, a, ["ka"]);
        await store.attachThreadKeys(F, b, ["kb1", "kb2"]);
        await store.attachThreadKeys(F, c, ["kc"]);
        await store.addSubjectEntriesBatch(F, [
          { threadId: a, entries: [entry("s:tax:cleo", 0, true)] },
          { threadId: b, entries: [entry("s:tax:cleo", 10, false), entry("s:vat:cleo", 0, true)] },
          { threadId: c, entries: [entry("s:tax:cleo", 40, true)] },
        ]);
        await store.fileMessages(
          F,
          [message(seed, 1), message(seed, 2, { threadId: b }), message(seed, 3, { threadId: c })],
          t0,
        );
        await store.setThreadMuted(F, b, seed.member.id, true);
        const keys = ["ka", "kb1", "kb2", "kc", "new1", "new2"];
        const probes = [
          entry("s:tax:cleo", 5, true),
          entry("s:tax:cleo", 25, false),
          entry("s:tax:cleo", 40, true),
          entry("s:vat:cleo", 0, true),
          entry("s:new:cleo", 0, true),
        ];
        const state = async () => {
          const messages: Record<string, string[]> = {};
          const mutes: Record<string, string[]> = {};
          for (const thread of [a, b, c]) {
            messages[thread] = (await store.listThreadMessages(F, thread)).map((m) => m.subject);
            mutes[thread] = await store.listThreadMutes(F, thread);
          }
          return {
            keys: Object.fromEntries(await store.findThreadsByKeys(F, keys)),
            subjects: await store.findSubjectThreads(F, probes, window),
            messages,
            mutes,
          };
        };
        const before = await state();
        expect(before.subjects).toEqual([[a, b].sort(), [a, c].sort(), [b, c].sort(), [b], []]);
        expect(before.keys).toEqual({ ka: a, kb1: b, kb2: b, kc: c });

        await expect(
          store.transaction(async (tx) => {
            await tx.lockThreads(F);
            expect(await tx.attachThreadKeys(F, c, ["new1", "kb1"])).toEqual([{ key: "kb1", threadId: b }]);
            await tx.addSubjectEntries(F, a, [entry("s:tax:cleo", 20, true), entry("s:new:cleo", 0, true)]);
            // Into a survivor that holds less than the thread merged into it, then into a third.
            await tx.mergeThreads(F, a, [b]);
            await tx.mergeThreads(F, c, [a]);
            const [d] = (await tx.createThreads(F, 1)) as [string];
            await tx.attachThreadKeysBatch(F, [{ threadId: d, keys: ["new2"] }]);
            await tx.addSubjectEntriesBatch(F, [{ threadId: d, entries: [entry("s:tax:cleo", 5, false)] }]);
            expect(Object.fromEntries(await tx.findThreadsByKeys(F, ["ka", "kb1", "new1", "new2"]))).toEqual({
              ka: c,
              kb1: c,
              new1: c,
              new2: d,
            });
            expect(await tx.findSubjectThreads(F, [probes[0]!, probes[4]!], window)).toEqual([
              [c, d].sort(),
              [c],
            ]);
            expect((await tx.listThreadMessages(F, c)).map((m) => m.subject)).toEqual([
              "Invoice 1",
              "Invoice 2",
              "Invoice 3",
            ]);
            throw new Error("rolled back");
          }),
        ).rejects.toThrow("rolled back");
        expect(await state()).toEqual(before);

        // Later writes build on the restored state: the keys are free, the merged threads exist.
        expect(await store.attachThreadKeys(F, c, ["new1"])).toEqual([]);
        await store.mergeThreads(F, b, [a]);
        expect(Object.fromEntries(await store.findThreadsByKeys(F, ["ka", "kb1", "kc", "new1"]))).toEqual({
          ka: b,
          kb1: b,
          kc: c,
          new1: c,
        });
        expect(await store.findSubjectThreads(F, [probes[0]!, probes[2]!], window)).toEqual([
          [b],
          [b, c].sort(),
        ]);
        expect((await store.listThreadMessages(F, b)).map((m) => m.subject)).toEqual([
          "Invoice 1",
          "Invoice 2",
        ]);

        // A nested transaction that throws undoes only its own merge and entries.
        await store.transaction(async (tx) => {
          await tx.addSubjectEntries(F, c, [entry("s:tax:cleo", 6, true)]);
          await tx
            .transaction(async (inner) => {
              await inner.mergeThreads(F, b, [c]);
              await inner.addSubjectEntries(F, b, [entry("s:tax:cleo", 6, true)]);
              throw new Error("inner");
            })
            .catch(() => undefined);
        });
        expect(await store.findSubjectThreads(F, [entry("s:tax:cleo", 6, true)], window)).toEqual([
          [b, c].sort(),
        ]);
        expect((await store.listThreadMessages(F, c)).map((m) => m.subject)).toEqual(["Invoice 3"]);
        expect(Object.fromEntries(await store.findThreadsByKeys(F, ["kc", "new1"]))).toEqual({
          kc: c,
          new1: c,
        });
      });

      it("H1: within a bucket of many entries the window is exact at both edges, for open and closed probes", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "window");
        const F = seed.firm.id;
        const hour = 60 * 60 * 1000;
        const day = 24 * hour;
        const window = 30 * day;
        const key = "s:payroll:cleo";
        const blocks = await store.createThreads(F, 24);
        const edges = await store.createThreads(F, 6);
        // 600 entries, 12 hours apart, 25 per thread; every third closed, and one thread closed only.
        const entries: Array<{ threadId: string; at: number; open: boolean }> = [];
        for (let i = 0; i < 600; i++) {
          const block = Math.floor(i / 25);
          entries.push({
            threadId: blocks[block]!,
            at: t0.getTime() + i * 12 * hour,
            open: i % 3 !== 0 && block !== 7,
          });
        }
        // Around P: entries exactly at the window's edges, and one millisecond outside them.
        const P = t0.getTime() + 150 * day;
        const [lowInOpen, lowInClosed, highInOpen, highInClosed, lowOut, highOut] = edges as [
          string,
          string,
          string,
          string,
          string,
          string,
        ];
        entries.push(
          { threadId: lowInOpen, at: P - window, open: true },
          { threadId: lowInClosed, at: P - window, open: false },
          { threadId: highInOpen, at: P + window, open: true },
          { threadId: highInClosed, at: P + window, open: false },
          { threadId: lowOut, at: P - window - 1, open: true },
          { threadId: highOut, at: P + window + 1, open: true },
        );
        // Inserted out of date order, some through the single call, the rest in batches.
        let state = 11;
        const next = () => (state = (state * 48271) % 2147483647);
        const shuffled = entries.map((e) => ({ e, order: next() })).sort((x, y) => x.order - y.order);
        for (let i = 0; i < shuffled.length; i += 40) {
          const chunk = shuffled.slice(i, i + 40).map(({ e }) => e);
          if (i % 80 === 0) {
            for (const e of chunk)
              await store.addSubjectEntries(F, e.threadId, [{ key, at: new Date(e.at), open: e.open }]);
          } else {
            await store.addSubjectEntriesBatch(
              F,
              chunk.map((e) => ({
                threadId: e.threadId,
                entries: [{ key, at: new Date(e.at), open: e.open }],
              })),
            );
          }
        }
        // Another key at the same dates must not answer.
        await store.addSubjectEntries(F, seed.thread, [
          { key: "s:payroll:other", at: new Date(P), open: true },
        ]);

        const expected = (at: number, open: boolean) =>
          [
            ...new Set(
              entries.filter((e) => Math.abs(e.at - at) <= window && (open || e.open)).map((e) => e.threadId),
            ),
          ].sort();
        const times = [
          P,
          P - 1,
          P + 1,
          t0.getTime(),
          t0.getTime() - window,
          t0.getTime() - window - 1,
          t0.getTime() + 599 * 12 * hour + window,
          t0.getTime() + 599 * 12 * hour + window + 1,
          ...Array.from({ length: 24 }, (_, i) => t0.getTime() + (i * 13 + 5) * day + (i % 4) * hour),
        ];
        const probes = times.flatMap((at) => [
          { key, at: new Date(at), open: true },
          { key, at: new Date(at), open: false },
        ]);
        const found = await store.findSubjectThreads(F, probes, window);
        expect(found).toEqual(probes.map((p) => expected(p.at.getTime(), p.open)));
        // The edges around P, spelled out.
        const [open, closed] = found as [string[], string[]];
        for (const inside of [lowInOpen, lowInClosed, highInOpen, highInClosed])
          expect(open).toContain(inside);
        expect(closed).toEqual(expect.arrayContaining([lowInOpen, highInOpen]));
        for (const outside of [lowOut, highOut]) expect(open).not.toContain(outside);
        for (const closedOnly of [lowInClosed, highInClosed, blocks[7]!])
          expect(closed).not.toContain(closedOnly);
        expect(found[10]).toEqual([]);
        expect(found[14]).toEqual([]);
      });

      it("H1: a busy key (hundreds of one thread's entries in the window) still finds a thread with one entry at the window's far edge, through merges, rollbacks and erasure", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "busy-key");
        const F = seed.firm.id;
        const hour = 60 * 60 * 1000;
        const day = 24 * hour;
        const window = 30 * day;
        const key = "s:invoice:cleo";
        const [main, lone, edge, other, late] = (await store.createThreads(F, 5)) as [
          string,
          string,
          string,
          string,
          string,
        ];
        // 400 open entries of one thread, an hour apart, inserted newest first.
        await store.addSubjectEntriesBatch(F, [
          {
            threadId: main,
            entries: Array.from({ length: 400 }, (_, i) => ({
              key,
              at: new Date(t0.getTime() + (399 - i) * hour),
              open: true,
            })),
          },
        ]);
        const open = { key, at: t0, open: true };
        const closed = { key, at: t0, open: false };
        expect(await store.findSubjectThreads(F, [open, closed], window)).toEqual([[main], [main]]);
        // One entry of a thread after the busy ones, one at the window's far edge, a closed one.
        await store.addSubjectEntries(F, lone, [{ key, at: new Date(t0.getTime() + 20 * day), open: true }]);
        await store.addSubjectEntries(F, edge, [{ key, at: new Date(t0.getTime() + window), open: true }]);
        await store.addSubjectEntries(F, other, [{ key, at: new Date(t0.getTime() + hour), open: false }]);
        const all = [main, lone, edge, other].sort();
        const allOpen = [main, lone, edge].sort();
        expect(await store.findSubjectThreads(F, [open, closed], window)).toEqual([all, allOpen]);

        // Merged, the key holds fewer threads; rolled back, as many as before.
        await expect(
          store.transaction(async (tx) => {
            await tx.mergeThreads(F, main, [lone]);
            expect(await tx.findSubjectThreads(F, [open, closed], window)).toEqual([
              [main, edge, other].sort(),
              [main, edge].sort(),
            ]);
            await tx.addSubjectEntries(F, other, [
              { key, at: new Date(t0.getTime() + 2 * hour), open: true },
            ]);
            expect(await tx.findSubjectThreads(F, [closed], window)).toEqual([[main, edge, other].sort()]);
            throw new Error("rolled back");
          }),
        ).rejects.toThrow("rolled back");
        expect(await store.findSubjectThreads(F, [open, closed], window)).toEqual([all, allOpen]);

        // The lone thread merged the other way (its one entry kept, the busy thread's moved).
        await store.mergeThreads(F, lone, [main]);
        expect(await store.findSubjectThreads(F, [open, closed], window)).toEqual([
          [lone, edge, other].sort(),
          [lone, edge].sort(),
        ]);
        // Erasure: emptied threads go with their entries; a participant's entries all go.
        await store.eraseThreadTraces(F, { threadIds: [other, edge], keys: [], participants: [] });
        expect(await store.findSubjectThreads(F, [open, closed], window)).toEqual([[lone], [lone]]);
        await store.eraseThreadTraces(F, { threadIds: [], keys: [], participants: ["cleo"] });
        expect(await store.findSubjectThreads(F, [open, closed], window)).toEqual([[], []]);
        // One millisecond past the window does not count.
        await store.addSubjectEntries(F, late, [
          { key, at: t0, open: false },
          { key, at: new Date(t0.getTime() + window + 1), open: true },
        ]);
        expect(await store.findSubjectThreads(F, [open, closed], window)).toEqual([[late], []]);
      });

      it("H4, H5: an account lists its threads newest first, each with its messages in order", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "listing");
        const { firm, account, link } = seed;
        const family = await store.createAccount(firm.id, { name: "Bolt family", kind: "family" }, t0);
        const familyLink = await store.createLink(firm.id, { ...link, accountId: family.id });
        const older = await store.createThread(firm.id);
        const both = [
          { accountId: account.id, linkIds: [link.id] },
          { accountId: family.id, linkIds: [familyLink.id] },
        ];
        await store.fileMessages(
          firm.id,
          [
            message(seed, 30, { threadId: older }),
            message(seed, 10),
            message(seed, 50, { direction: "outbound", filings: both }),
            message(seed, 20, { threadId: older }),
          ],
          t0,
        );
        const inbox = await store.listAccountThreads(firm.id, account.id, { view: "inbox" });
        expect(inbox.map((t) => t.threadId)).toEqual([seed.thread, older]);
        expect(inbox[0]?.lastActivityAt).toEqual(minutes(50));
        expect(inbox[0]?.messages.map((m) => m.subject)).toEqual(["Invoice 10", "Invoice 50"]);
        expect(inbox[1]?.messages.map((m) => m.subject)).toEqual(["Invoice 20", "Invoice 30"]);
        expect(
          (await store.listAccountThreads(firm.id, account.id, { view: "inbox", limit: 1 })).map(
            (t) => t.threadId,
          ),
        ).toEqual([seed.thread]);
        const sent = await store.listAccountThreads(firm.id, account.id, { view: "sent" });
        expect(sent.map((t) => t.threadId)).toEqual([seed.thread]);
        // H4: the whole thread shows under the family account, through one of its messages.
        const familyInbox = await store.listAccountThreads(firm.id, family.id, { view: "inbox" });
        expect(familyInbox.map((t) => t.messages.length)).toEqual([2]);
        // F7: with email sync off, the account has no reason left to show the mail.
        await store.updateLink(firm.id, familyLink.id, { emailSync: false });
        expect(await store.listAccountThreads(firm.id, family.id, { view: "inbox" })).toEqual([]);
        await store.updateLink(firm.id, familyLink.id, { emailSync: true });
        expect(await store.listAccountThreads(firm.id, family.id, { view: "inbox" })).toHaveLength(1);
      });
    });
  });
}
