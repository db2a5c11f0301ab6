/**
 * H1–H3 through the production threader: `threadPage` over a real store, page by page, each page
 * in its own transaction, as the engine runs it. The cases here pin the edges of the rules (the
 * window's bounds, a closed reply between two open mails, one mailbox's conversation ids, late
 * bridges); `threading-property.test.ts` checks random forests through the whole engine.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "@clientmail/memory";
import { normalizeSubject, subjectWindowMs, threadKeys, type ThreadingMessage } from "../../src/index.js";
import {
  copySubjectEntries,
  threadPage,
  type KnownCopy,
  type ThreadMerge,
} from "../../src/engine/store-threading.js";
import type { Store } from "../../src/ports/index.js";
import { engineStores } from "./stores.js";

const day = 24 * 60 * 60 * 1000;

function msg(id: string, overrides: Partial<ThreadingMessage> = {}): ThreadingMessage {
  return {
    id,
    messageId: `${id}@mail`,
    inReplyTo: [],
    references: [],
    providerThreads: [],
    subject: "Tax return 2025",
    date: new Date("2026-03-01T10:00:00Z"),
    externalParticipants: ["client@acme.com"],
    ...overrides,
  };
}

/**
 * Threads copies page by page as the engine does: the first copy of a message is new; a later
 * copy of a message threaded on an earlier page is a known copy that brings its own keys (its
 * conversation in its mailbox) and the subject entries of participants the first copy did not
 * show. A copy of a message that is new on the same page starts the next page, as it would
 * arrive on the next sync of its mailbox.
 */
class Threader {
  readonly threadOf = new Map<string, string>();
  readonly firstCopy = new Map<string, ThreadingMessage>();
  readonly merges: ThreadMerge[] = [];

  private constructor(
    readonly store: Store,
    readonly firmId: string,
  ) {}

  static async on(store: Store): Promise<Threader> {
    const firm = await store.createFirm({
      name: "Ledger & Partners",
      internalDomains: ["ledger.example"],
      deletionMode: "mirror",
    });
    return new Threader(store, firm.id);
  }

  async deliver(copies: readonly ThreadingMessage[], pageSize = copies.length): Promise<this> {
    let page: ThreadingMessage[] = [];
    for (const copy of copies) {
      if (page.length >= pageSize || page.some((other) => other.id === copy.id)) {
        await this.page(page);
        page = [];
      }
      page.push(copy);
    }
    if (page.length > 0) await this.page(page);
    return this;
  }

  private async page(copies: readonly ThreadingMessage[]): Promise<void> {
    const fresh = copies.filter((copy) => !this.threadOf.has(copy.id));
    const known = copies.flatMap((copy): KnownCopy[] => {
      const threadId = this.threadOf.get(copy.id);
      const first = this.firstCopy.get(copy.id);
      if (threadId === undefined || first === undefined) return [];
      const record = {
        from: first.externalParticipants.map((address) => ({ address })),
        sender: [],
        replyTo: [],
        to: [],
        cc: [],
        bcc: [],
        date: first.date,
        inReplyTo: first.inReplyTo,
        references: first.references,
      };
      return [{ threadId, keys: threadKeys(copy), subjects: copySubjectEntries(copy, record) }];
    });
    for (const copy of fresh) this.firstCopy.set(copy.id, copy);
    const result = await this.store.transaction((tx) => threadPage(tx, this.firmId, fresh, known));
    for (const [id, threadId] of this.threadOf) this.threadOf.set(id, result.resolve(threadId));
    for (const [id, threadId] of result.threadOf) this.threadOf.set(id, threadId);
    this.merges.push(...result.merges);
  }

  /** The partition: message ids per thread, sorted. */
  partition(): string[][] {
    const groups = new Map<string, string[]>();
    for (const [id, threadId] of this.threadOf) groups.set(threadId, [...(groups.get(threadId) ?? []), id]);
    return [...groups.values()].map((g) => g.sort()).sort((x, y) => x[0]!.localeCompare(y[0]!));
  }
}

const permutations = <T>(items: readonly T[]): T[][] =>
  items.length <= 1
    ? [[...items]]
    : items.flatMap((item, i) =>
        permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
      );

describe.each(engineStores)("threadPage on the $name", ({ make }) => {
  const clock = { now: () => new Date("2026-03-02T09:00:00Z") };
  /** The partition of `messages` delivered in every order, one page per message and all in one page. */
  async function everyOrder(messages: readonly ThreadingMessage[]): Promise<string[][][]> {
    const out: string[][][] = [];
    // Every order of up to four messages; of more, an even sample of 24 of them.
    const all = permutations(messages);
    const step = Math.max(1, Math.floor(all.length / 24));
    for (const order of all.filter((_, i) => i % step === 0)) {
      for (const pageSize of [1, order.length]) {
        const threader = await Threader.on(await make(clock));
        out.push((await threader.deliver(order, pageSize)).partition());
      }
    }
    return out;
  }
  const expectEveryOrder = async (messages: readonly ThreadingMessage[], expected: string[][]) => {
    for (const partition of await everyOrder(messages)) expect(partition).toEqual(expected);
  };

  it("H1: References and In-Reply-To chains group messages, also through a missing ancestor", async () => {
    await expectEveryOrder(
      [
        msg("a"),
        msg("b", { inReplyTo: ["a@mail"], references: ["a@mail"], subject: "Re: other words" }),
        msg("c", { references: ["missing@mail"], subject: "different" }),
        msg("d", { references: ["missing@mail", "c@mail"], subject: "x" }),
      ],
      [
        ["a", "b"],
        ["c", "d"],
      ],
    );
  });

  it("H1: the provider conversation id threads within one mailbox only", async () => {
    const inConversation = (id: string, mailboxId: string, subject: string) =>
      msg(id, { messageId: undefined, providerThreads: [{ mailboxId, threadId: "T" }], subject });
    await expectEveryOrder(
      [
        inConversation("a", "m1", "one"),
        inConversation("b", "m1", "two"),
        inConversation("c", "m2", "three"),
      ],
      [["a", "b"], ["c"]],
    );
  });

  it("H1: the subject joins only messages sharing an external participant within 30 days, one of them without a chain", async () => {
    await expectEveryOrder(
      [
        msg("a", { subject: "Payroll" }),
        msg("b", { subject: "RE: Payroll", date: new Date("2026-03-20T00:00:00Z") }),
        msg("c", { subject: "Payroll", externalParticipants: ["stranger@other.com"] }),
        msg("d", { subject: "Payroll", date: new Date("2026-05-01T00:00:00Z") }),
        // e has a chain and a conversation of its own, but a and b have none: the link is symmetric.
        msg("e", {
          subject: "Payroll",
          inReplyTo: ["zzz@mail"],
          providerThreads: [{ mailboxId: "m", threadId: "t" }],
        }),
      ],
      [["a", "b", "e"], ["c"], ["d"]],
    );
    // Two messages with header chains are never joined by their subject alone.
    await expectEveryOrder(
      [msg("x", { inReplyTo: ["p@mail"] }), msg("y", { inReplyTo: ["q@mail"] })],
      [["x"], ["y"]],
    );
  });

  it("H1: subject-only mails on day 0, 40 and 45 are {A} and {B, C} in every arrival order", async () => {
    const base = Date.UTC(2026, 0, 1);
    await expectEveryOrder(
      [
        msg("a", { messageId: undefined, date: new Date(base) }),
        msg("b", { messageId: undefined, date: new Date(base + 40 * day) }),
        msg("c", { messageId: undefined, date: new Date(base + 45 * day) }),
      ],
      [["a"], ["b", "c"]],
    );
  });

  it("H1: the 30-day window is checked on the pair, inclusive at exactly 30 days", async () => {
    const base = Date.UTC(2026, 0, 1);
    expect(subjectWindowMs).toBe(30 * day);
    const a = msg("a", { date: new Date(base) });
    await expectEveryOrder([a, msg("b", { date: new Date(base + 30 * day) })], [["a", "b"]]);
    await expectEveryOrder([a, msg("b", { date: new Date(base + 30 * day + 1) })], [["a"], ["b"]]);
    await expectEveryOrder([a, msg("b", { date: new Date(base - 30 * day - 1) })], [["a"], ["b"]]);
    // A reply with References on day 30 is within the window of both open mails (day 0 and 60),
    // so it joins them; without it they stay apart.
    const late = msg("z", { date: new Date(base + 60 * day) });
    const replyOn = (days: number) =>
      msg("r", { references: ["elsewhere@mail"], date: new Date(base + days * day) });
    await expectEveryOrder([a, late], [["a"], ["z"]]);
    await expectEveryOrder([a, late, replyOn(30)], [["a", "r", "z"]]);
    // A reply on day 45 is within the window of the day-60 mail only; on day 20, of day 0 only.
    await expectEveryOrder([a, late, replyOn(45)], [["a"], ["r", "z"]]);
    await expectEveryOrder([a, late, replyOn(20)], [["a", "r"], ["z"]]);
  });

  it("H3: a late message that links two threads merges them, and a copy of it from another mailbox merges nothing", async () => {
    const threader = await Threader.on(await make(clock));
    await threader.deliver([
      msg("b", { references: ["a@mail"] }),
      msg("c", { subject: "other", references: ["x@mail"], externalParticipants: [] }),
    ]);
    expect(threader.threadOf.get("b")).not.toBe(threader.threadOf.get("c"));
    const before = new Set(threader.threadOf.values());
    const bridge = msg("d", { references: ["a@mail", "x@mail"], subject: "bridge" });
    await threader.deliver([bridge]);
    expect(threader.merges).toHaveLength(1);
    const [merge] = threader.merges;
    expect(new Set([merge!.survivorId, ...merge!.mergedIds])).toEqual(before);
    expect(threader.partition()).toEqual([["b", "c", "d"]]);
    await threader.deliver([{ ...bridge, providerThreads: [{ mailboxId: "m2", threadId: "t" }] }]);
    expect(threader.merges).toHaveLength(1);
    expect(threader.partition()).toEqual([["b", "c", "d"]]);
  });

  it("H1: a participant only the sender's copy shows (Bcc) links the message by subject, whichever copy comes first", async () => {
    const sent = msg("a", { externalParticipants: ["client@acme.com", "partner@other.com"] });
    const received = { ...sent, externalParticipants: ["client@acme.com"] };
    const fromPartner = msg("b", {
      messageId: "b@mail",
      date: new Date("2026-03-15T10:00:00Z"),
      externalParticipants: ["partner@other.com"],
    });
    await expectEveryOrder([sent, received, fromPartner], [["a", "b"]]);
    await expectEveryOrder([received, fromPartner], [["a"], ["b"]]);
  });

  it("H1: a message with a provider conversation but no In-Reply-To or References still uses its subject, whichever copy comes first", async () => {
    const inGmail = msg("a", { providerThreads: [{ mailboxId: "ann", threadId: "g1" }] });
    const later = msg("b", { date: new Date("2026-03-10T10:00:00Z") });
    // Bob's copy of a (another mailbox, another conversation) must not split what the subject joined.
    const bobsCopy = { ...inGmail, providerThreads: [{ mailboxId: "bob", threadId: "x9" }] };
    await expectEveryOrder([inGmail, later, bobsCopy], [["a", "b"]]);
  });
});

describe("threadPage on the memory store (property)", () => {
  it("H1, H3: random forests with copies over mailboxes (some showing a Bcc), in random orders and pages, give the pairwise partition (property)", async () => {
    // H1 read literally, every pair compared: the reference the threader must agree with.
    interface Facts {
      keys: Set<string>;
      chained: boolean;
      subject: string;
      time: number;
      participants: Set<string>;
    }
    const factsOf = (copies: readonly ThreadingMessage[]): Facts => {
      const first = copies[0]!;
      return {
        keys: new Set(copies.flatMap((copy) => threadKeys(copy))),
        chained: first.inReplyTo.length > 0 || first.references.length > 0,
        subject: normalizeSubject(first.subject),
        time: first.date.getTime(),
        participants: new Set(copies.flatMap((copy) => copy.externalParticipants)),
      };
    };
    const linked = (a: Facts, b: Facts): boolean =>
      [...a.keys].some((key) => b.keys.has(key)) ||
      ((!a.chained || !b.chained) &&
        a.subject !== "" &&
        a.subject === b.subject &&
        Math.abs(a.time - b.time) <= 30 * day &&
        [...a.participants].some((p) => b.participants.has(p)));
    const reference = (forest: readonly ThreadingMessage[][]): string[][] => {
      const facts = forest.map(factsOf);
      const parent = forest.map((_, i) => i);
      const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
      for (let i = 0; i < forest.length; i++)
        for (let j = i + 1; j < forest.length; j++)
          if (linked(facts[i]!, facts[j]!)) parent[find(j)] = find(i);
      const groups = new Map<number, string[]>();
      forest.forEach((copies, i) => groups.set(find(i), [...(groups.get(find(i)) ?? []), copies[0]!.id]));
      return [...groups.values()].map((g) => g.sort()).sort((x, y) => x[0]!.localeCompare(y[0]!));
    };

    // Links are sparse so that every rule, the subject rule included, decides some merges. Days
    // cluster on 0/30/60 with ±1 ms so that equal dates and the window's edge come up often.
    const sparse = <T>(arb: fc.Arbitrary<T[]>) =>
      fc.oneof({ weight: 3, arbitrary: fc.constant([] as T[]) }, { weight: 1, arbitrary: arb });
    const ids = Array.from({ length: 14 }, (_, i) => `m${String(i).padStart(2, "0")}`);
    const participants = ["p1@c.com", "p2@c.com", "p3@c.com"];
    const subjects = ["Audit", "Re: Audit", "Invoice", "Fwd: Invoice", "Meeting", "Re:"];
    const base = Date.UTC(2026, 0, 1);
    const messageArb = (id: string, index: number) =>
      fc
        .record({
          hasMessageId: fc.boolean(),
          inReplyTo: sparse(fc.subarray(ids.slice(0, index), { maxLength: Math.min(1, index) })),
          references: sparse(fc.subarray([...ids.slice(0, index), "ghost1", "ghost2"], { maxLength: 2 })),
          subject: fc.constantFrom(...subjects),
          day: fc.constantFrom(0, 0, 15, 29, 30, 30, 31, 45, 60, 60, 61, 90),
          jitter: fc.constantFrom(0, 0, 0, -1, 1),
          externals: fc.subarray(participants),
          copies: fc.uniqueArray(
            fc.record({
              mailbox: fc.constantFrom("mb1", "mb2", "mb3"),
              thread: fc.option(fc.constantFrom("t1", "t2"), { nil: undefined, freq: 2 }),
              bcc: fc.option(fc.constantFrom(...participants), { nil: undefined, freq: 2 }),
            }),
            { minLength: 1, maxLength: 3, selector: (copy) => copy.mailbox },
          ),
        })
        .map((r): ThreadingMessage[] =>
          r.copies.map((copy) => ({
            id,
            messageId: r.hasMessageId ? `${id}@mail` : undefined,
            inReplyTo: r.inReplyTo.map((x) => `${x}@mail`),
            references: r.references.map((x) => (x.startsWith("ghost") ? `${x}@nowhere` : `${x}@mail`)),
            providerThreads: copy.thread ? [{ mailboxId: copy.mailbox, threadId: copy.thread }] : [],
            subject: r.subject,
            date: new Date(base + r.day * day + r.jitter),
            // A Bcc shows on one copy only (the sender's).
            externalParticipants: copy.bcc ? [...new Set([...r.externals, copy.bcc])] : r.externals,
          })),
        );
    const forestArb = fc
      .integer({ min: 1, max: ids.length })
      .chain((size) => fc.tuple(...ids.slice(0, size).map((id, i) => messageArb(id, i))));
    const deliveryArb = forestArb.chain((forest) =>
      fc.record({
        forest: fc.constant(forest),
        orders: fc.array(
          fc.record({
            arrival: fc.shuffledSubarray(forest.flat(), { minLength: forest.flat().length }),
            pageSize: fc.integer({ min: 1, max: 5 }),
          }),
          { minLength: 3, maxLength: 3 },
        ),
      }),
    );

    const forests = 100;
    let orders = 0;
    let subjectDecided = 0;
    await fc.assert(
      fc.asyncProperty(deliveryArb, async ({ forest, orders: deliveries }) => {
        const expected = reference(forest);
        // How often the subject rule mattered: the same forest without subjects splits further.
        if (reference(forest.map((c) => c.map((m) => ({ ...m, subject: "" })))).length > expected.length)
          subjectDecided += 1;
        for (const { arrival, pageSize } of deliveries) {
          const threader = await Threader.on(createMemoryStore());
          await threader.deliver(arrival, pageSize);
          expect(threader.partition()).toEqual(expected);
          orders += 1;
        }
      }),
      { numRuns: forests },
    );
    console.info(`H1-H3 threadPage property: ${forests} forests, ${orders} arrival orders tried`);
    expect(orders).toBe(forests * 3);
    // The generator must exercise the subject rule, or the property proves little about it.
    expect(subjectDecided).toBeGreaterThan(20);
  }, 180_000);
});
