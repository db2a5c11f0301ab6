import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { normalizeSubject, threadAccountIds, ThreadIndex, type ThreadingMessage } from "./threading.js";
import { newMailRecipients } from "./notifications.js";

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

function partition(index: ThreadIndex): string[][] {
  return [...index.threads().values()]
    .map((ids) => [...ids].sort())
    .sort((x, y) => x[0]!.localeCompare(y[0]!));
}

describe("subject normalisation", () => {
  it("H2: strips reply and forward prefixes in many languages, any case, with counters", () => {
    const cases = [
      "Re: Tax return",
      "RE: re: Tax return",
      "Fwd: Tax return",
      "FW: Tax return",
      "AW: WG: Tax return",
      "SV: VS: Tax return",
      "Antw: Doorst: Tax return",
      "TR: Tax return",
      "RV: Tax return",
      "RIF: Tax return",
      "R: R: Re: Tax return",
      "Odp: PD: Tax return",
      "YNT: Tax return",
      "ΑΠ: Tax return",
      "ΣΧΕΤ: Tax return",
      "Отв: Tax return",
      "回复: Tax return",
      "转发：Tax return",
      "答复: Tax return",
      "回覆: 轉寄: Tax return",
      "返信: 転送: Tax return",
      "답장: 전달: Tax return",
      "Re[2]: Tax return",
      "RE(3): Tax return",
      "[EXTERNAL] Re: Tax return",
      "Re: [client-list] Fwd: Tax return",
      "  re :   Tax   return  ",
      "Tax return (fwd)",
      "Απ: Tax return",
    ];
    for (const subject of cases) expect(normalizeSubject(subject), subject).toBe("tax return");
  });

  it("H2: keeps words that only look like prefixes", () => {
    expect(normalizeSubject("Reminder: invoice")).toBe("reminder: invoice");
    expect(normalizeSubject("Return of goods")).toBe("return of goods");
    expect(normalizeSubject("Re")).toBe("re");
  });
});

describe("threading", () => {
  it("H1: References and In-Reply-To chains group messages, also through a missing ancestor", () => {
    const index = new ThreadIndex();
    index.add(msg("a"));
    index.add(msg("b", { inReplyTo: ["a@mail"], references: ["a@mail"], subject: "Re: other words" }));
    index.add(msg("c", { references: ["missing@mail"], subject: "different" }));
    index.add(msg("d", { references: ["missing@mail", "c@mail"], subject: "x" }));
    expect(partition(index)).toEqual([
      ["a", "b"],
      ["c", "d"],
    ]);
  });

  it("H1: the provider conversation id threads within one mailbox only", () => {
    const index = new ThreadIndex();
    index.add(
      msg("a", {
        messageId: undefined,
        providerThreads: [{ mailboxId: "m1", threadId: "T" }],
        subject: "one",
      }),
    );
    index.add(
      msg("b", {
        messageId: undefined,
        providerThreads: [{ mailboxId: "m1", threadId: "T" }],
        subject: "two",
      }),
    );
    index.add(
      msg("c", {
        messageId: undefined,
        providerThreads: [{ mailboxId: "m2", threadId: "T" }],
        subject: "three",
      }),
    );
    expect(partition(index)).toEqual([["a", "b"], ["c"]]);
  });

  it("H1: the subject joins only unlinked messages sharing an external participant within 30 days", () => {
    const index = new ThreadIndex();
    index.add(msg("a", { subject: "Payroll" }));
    index.add(msg("b", { subject: "RE: Payroll", date: new Date("2026-03-20T00:00:00Z") }));
    index.add(msg("c", { subject: "Payroll", externalParticipants: ["stranger@other.com"] }));
    index.add(msg("d", { subject: "Payroll", date: new Date("2026-05-01T00:00:00Z") }));
    index.add(
      msg("e", {
        subject: "Payroll",
        inReplyTo: ["zzz@mail"],
        providerThreads: [{ mailboxId: "m", threadId: "t" }],
      }),
    );
    // e has its own links, but a and b have none, so a symmetric subject link still applies.
    expect(partition(index)).toEqual([["a", "b", "e"], ["c"], ["d"]]);
    const linkedOnly = new ThreadIndex();
    linkedOnly.add(msg("x", { inReplyTo: ["p@mail"] }));
    linkedOnly.add(msg("y", { inReplyTo: ["q@mail"] }));
    expect(partition(linkedOnly)).toEqual([["x"], ["y"]]);
  });

  it("H3: a late message that links two threads merges them", () => {
    const index = new ThreadIndex();
    const first = index.add(msg("b", { references: ["a@mail"] }));
    const second = index.add(
      msg("c", { messageId: "c@mail", subject: "other", references: ["x@mail"], externalParticipants: [] }),
    );
    expect(first.threadId).not.toBe(second.threadId);
    const bridge = index.add(msg("d", { references: ["a@mail", "x@mail"], subject: "bridge" }));
    expect(bridge.merged.length).toBe(1);
    expect(index.threadOf("b")).toBe(index.threadOf("c"));
    expect(index.add(msg("d")).merged).toEqual([]);
  });

  it("H3: the partition into threads is the same for any arrival order (property, 200+ orders)", () => {
    // Links are sparse so that every rule, the subject fallback included, decides some merges.
    const sparse = <T>(arb: fc.Arbitrary<T[]>) =>
      fc.oneof({ weight: 2, arbitrary: fc.constant([] as T[]) }, { weight: 1, arbitrary: arb });
    const ids = Array.from({ length: 14 }, (_, i) => `m${String(i).padStart(2, "0")}`);
    const participants = ["p1@c.com", "p2@c.com", "p3@c.com"];
    const subjects = ["Audit", "Re: Audit", "Invoice", "Fwd: Invoice", "Meeting"];
    const messageArb = (id: string, index: number) =>
      fc
        .record({
          hasMessageId: fc.boolean(),
          inReplyTo: sparse(fc.subarray(ids.slice(0, index), { maxLength: Math.min(1, index) })),
          references: sparse(fc.subarray([...ids.slice(0, index), "ghost1", "ghost2"], { maxLength: 2 })),
          providerThread: fc.option(fc.constantFrom("t1", "t2"), { nil: undefined, freq: 1 }),
          mailbox: fc.constantFrom("mb1", "mb2"),
          subject: fc.constantFrom(...subjects),
          day: fc.integer({ min: 0, max: 70 }),
          externals: fc.subarray(participants, { minLength: 0 }),
        })
        .map((r): ThreadingMessage => ({
          id,
          messageId: r.hasMessageId ? `${id}@mail` : undefined,
          inReplyTo: r.inReplyTo.map((x) => `${x}@mail`),
          references: r.references.map((x) => (x.startsWith("ghost") ? `${x}@nowhere` : `${x}@mail`)),
          providerThreads: r.providerThread ? [{ mailboxId: r.mailbox, threadId: r.providerThread }] : [],
          subject: r.subject,
          date: new Date(Date.UTC(2026, 0, 1 + r.day)),
          externalParticipants: r.externals,
        }));
    const setArb = fc.tuple(...ids.map((id, i) => messageArb(id, i)));
    let orders = 0;
    fc.assert(
      fc.property(setArb, (messages) => {
        const reference = new ThreadIndex();
        messages.forEach((m) => reference.add(m));
        const expected = partition(reference);
        fc.assert(
          fc.property(fc.shuffledSubarray(messages, { minLength: messages.length }), (shuffled) => {
            orders += 1;
            const index = new ThreadIndex();
            shuffled.forEach((m) => index.add(m));
            expect(partition(index)).toEqual(expected);
            expect(index.threads().size).toBe(reference.threads().size);
            for (const m of messages) expect(index.threadOf(m.id)).toBe(reference.threadOf(m.id));
          }),
          { numRuns: 20 },
        );
      }),
      { numRuns: 15 },
    );
    expect(orders).toBeGreaterThanOrEqual(200);
  });

  it("H4: a thread shows under every account of its messages; muting silences it for that member only", () => {
    const index = new ThreadIndex();
    index.add(msg("a"));
    index.add(msg("b", { references: ["a@mail"] }));
    const filedIn = new Map([
      ["a", ["family-jo"]],
      ["b", ["jo-bakery", "family-jo"]],
    ]);
    const members = index.threads().get(index.threadOf("a")!)!;
    expect(threadAccountIds(members.map((id) => ({ accountIds: filedIn.get(id)! })))).toEqual([
      "family-jo",
      "jo-bakery",
    ]);
    const team = [
      { id: "ann", newMailNotifications: "all" as const },
      { id: "bob", newMailNotifications: "all" as const },
    ];
    const muted = new Set(["ann:" + index.threadOf("b")!]);
    const notified = newMailRecipients(
      { direction: "inbound", threadId: index.threadOf("b")!, mailboxIds: [] },
      team,
      [],
      (m, t) => muted.has(`${m}:${t}`),
    );
    expect(notified).toEqual(["bob"]);
  });
});
