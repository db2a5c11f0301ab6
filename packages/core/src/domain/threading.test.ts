import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  normalizeSubject,
  subjectKeys,
  subjectWindowMs,
  threadAccountIds,
  ThreadIndex,
  threadKeys,
  usesSubjectFallback,
  type ThreadingMessage,
} from "./threading.js";
import { newMailRecipients } from "./notifications.js";

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

function partition(index: ThreadIndex): string[][] {
  return [...index.threads().values()]
    .map((ids) => [...ids].sort())
    .sort((x, y) => x[0]!.localeCompare(y[0]!));
}

function threadsOf(messages: readonly ThreadingMessage[]): string[][] {
  const index = new ThreadIndex();
  for (const message of messages) index.add(message);
  return partition(index);
}

describe("subject normalisation", () => {
  // One case per language form of SPEC H2; each must reduce to the bare subject.
  const forms: Array<[form: string, subject: string]> = [
    ["English Re", "Re: Tax return"],
    ["English RE and re", "RE: re: Tax return"],
    ["English Fwd", "Fwd: Tax return"],
    ["English FW", "FW: Tax return"],
    ["German AW", "AW: Tax return"],
    ["German WG", "WG: Tax return"],
    ["Nordic SV", "SV: Tax return"],
    ["Nordic VS", "VS: Tax return"],
    ["Dutch Antw", "Antw: Tax return"],
    ["Dutch Doorst", "Doorst: Tax return"],
    ["French TR", "TR: Tax return"],
    ["French Réf", "Réf: Tax return"],
    ["French RÉF upper case", "RÉF : Tax return"],
    ["Spanish RV", "RV: Tax return"],
    ["Italian RIF", "RIF: Tax return"],
    ["Italian R", "R: R: Tax return"],
    ["Portuguese RES", "RES: Tax return"],
    ["Portuguese ENC", "ENC: Tax return"],
    ["Polish Odp", "Odp: Tax return"],
    ["Polish PD", "PD: Tax return"],
    ["Turkish YNT", "YNT: Tax return"],
    ["Turkish İLT (dotted capital I)", "İLT: Tax return"],
    ["Turkish ILT (dotless capital I)", "ILT: Tax return"],
    ["Turkish ilt lower case", "ilt: Tax return"],
    ["Greek ΑΠ", "ΑΠ: Tax return"],
    ["Greek Απ", "Απ: Tax return"],
    ["Greek ΣΧΕΤ", "ΣΧΕΤ: Tax return"],
    ["Russian Отв", "Отв: Tax return"],
    ["Russian Ответ", "Ответ: Tax return"],
    ["Russian Пересл", "Пересл: Tax return"],
    ["Hebrew תשובה", "תשובה: Tax return"],
    ["Arabic رد", "رد: Tax return"],
    ["Chinese 回复", "回复: Tax return"],
    ["Chinese 转发 with a full-width colon", "转发：Tax return"],
    ["Chinese 答复", "答复: Tax return"],
    ["Chinese 回覆", "回覆: Tax return"],
    ["Chinese 轉寄", "轉寄: Tax return"],
    ["Japanese 返信", "返信: Tax return"],
    ["Japanese 転送", "転送: Tax return"],
    ["Korean 답장", "답장: Tax return"],
    ["Korean 전달", "전달: Tax return"],
    ["full-width letters and colon", "ＲＥ：Tax return"],
    ["counter Re[2]", "Re[2]: Tax return"],
    ["counter RE (3)", "RE (3): Tax return"],
    ["counter RE(3)", "RE(3): Tax return"],
    ["counter Re^2", "Re^2: Tax return"],
    ["bracketed tag [EXTERNAL]", "[EXTERNAL] Re: Tax return"],
    ["list tag between prefixes", "Re: [client-list] Fwd: Tax return"],
    ["full-width bracketed tag", "【外部】Tax return"],
    ["stacked prefixes of several languages", "AW: Odp: İLT: 回复: Tax return"],
    ["spaces around the colon", "  re :   Tax   return  "],
    ["trailing (fwd)", "Tax return (fwd)"],
  ];
  it.each(forms)("H2: strips %s", (_form, subject) => {
    expect(normalizeSubject(subject)).toBe("tax return");
  });

  it("H2: case-folding treats dotted and dotless I alike, in prefixes and in the subject itself", () => {
    const key = normalizeSubject("KDV iadesi");
    for (const variant of ["KDV İADESİ", "KDV IADESI", "kdv ıadesı", "İLT: KDV İadesi"])
      expect(normalizeSubject(variant), variant).toBe(key);
    // Greek final sigma: a capitalised subject and its lower-case spelling compare equal.
    expect(normalizeSubject("ΦΠΑ ΕΤΟΥΣ")).toBe(normalizeSubject("φπα ετους"));
    expect(normalizeSubject("ΣΧΕΤ: ΦΟΡΟΣ")).toBe(normalizeSubject("φορος"));
  });

  it("H2: keeps words that only look like prefixes", () => {
    expect(normalizeSubject("Reminder: invoice")).toBe("reminder: invoice");
    expect(normalizeSubject("Return of goods")).toBe("return of goods");
    expect(normalizeSubject("Re")).toBe("re");
    expect(normalizeSubject("Résumé: draft")).toBe("résumé: draft");
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
    // A copy of d from another mailbox changes nothing.
    const copy = msg("d", { references: ["a@mail", "x@mail"], subject: "bridge" });
    expect(index.add({ ...copy, providerThreads: [{ mailboxId: "m2", threadId: "t" }] }).merged).toEqual([]);
  });

  it("H1: a message with a provider conversation but no In-Reply-To or References still uses its subject", () => {
    const inGmail = msg("a", { providerThreads: [{ mailboxId: "ann", threadId: "g1" }] });
    expect(usesSubjectFallback(inGmail)).toBe(true);
    expect(usesSubjectFallback(msg("b", { references: ["x@mail"] }))).toBe(false);
    expect(usesSubjectFallback(msg("c", { inReplyTo: ["x@mail"] }))).toBe(false);
    // Bob's copy of a (another mailbox, another conversation) must not split what the subject joined.
    const later = msg("b", { date: new Date("2026-03-10T10:00:00Z") });
    const bobsCopy = { ...inGmail, providerThreads: [{ mailboxId: "bob", threadId: "x9" }] };
    for (const order of [
      [inGmail, later, bobsCopy],
      [bobsCopy, later, inGmail],
      [later, bobsCopy, inGmail],
    ])
      expect(threadsOf(order)).toEqual([["a", "b"]]);
  });

  it("H1: subject-only mails on day 0, 40 and 45 are {A} and {B, C} in every arrival order", () => {
    const base = Date.UTC(2026, 0, 1);
    const a = msg("a", { messageId: undefined, date: new Date(base) });
    const b = msg("b", { messageId: undefined, date: new Date(base + 40 * day) });
    const c = msg("c", { messageId: undefined, date: new Date(base + 45 * day) });
    for (const order of [
      [a, b, c],
      [c, b, a],
      [b, a, c],
      [c, a, b],
    ])
      expect(threadsOf(order)).toEqual([["a"], ["b", "c"]]);
  });

  it("H1: the 30-day window is checked on the pair, inclusive at exactly 30 days", () => {
    const base = Date.UTC(2026, 0, 1);
    expect(subjectWindowMs).toBe(30 * day);
    const a = msg("a", { date: new Date(base) });
    expect(threadsOf([a, msg("b", { date: new Date(base + 30 * day) })])).toEqual([["a", "b"]]);
    expect(threadsOf([a, msg("b", { date: new Date(base + 30 * day + 1) })])).toEqual([["a"], ["b"]]);
    // A reply with References on day 30 is within the window of both open mails (day 0 and 60),
    // so it joins them; without it they stay apart.
    const reply = msg("r", { references: ["elsewhere@mail"], date: new Date(base + 30 * day) });
    const late = msg("z", { date: new Date(base + 60 * day) });
    expect(threadsOf([a, late])).toEqual([["a"], ["z"]]);
    expect(threadsOf([a, late, reply])).toEqual([["a", "r", "z"]]);
    expect(threadsOf([reply, late, a])).toEqual([["a", "r", "z"]]);
    // A reply on day 45 is within the window of the day-60 mail only: day 0 stays apart.
    const reply45 = msg("r", { references: ["elsewhere@mail"], date: new Date(base + 45 * day) });
    for (const order of [
      [a, late, reply45],
      [reply45, a, late],
      [reply45, late, a],
    ])
      expect(threadsOf(order)).toEqual([["a"], ["r", "z"]]);
    // A reply on day 20 is within the window of the day-0 mail only: day 60 stays apart.
    const reply20 = msg("r", { references: ["elsewhere@mail"], date: new Date(base + 20 * day) });
    for (const order of [
      [a, late, reply20],
      [reply20, late, a],
      [reply20, a, late],
    ])
      expect(threadsOf(order)).toEqual([["a", "r"], ["z"]]);
    // Two replies with header chains are never joined by their subject alone.
    const otherReply = msg("s", { references: ["other@mail"], date: new Date(base + 31 * day) });
    expect(threadsOf([reply, otherReply])).toEqual([["r"], ["s"]]);
  });

  it("H1: subjectKeys gives one key per (normalised subject, external participant), none for an empty subject", () => {
    const message = msg("a", {
      subject: "RE: Invoice",
      externalParticipants: ["jo@home.example", "ann@acme.example", "jo@home.example"],
    });
    expect(subjectKeys(message)).toEqual(["subj:invoice:jo@home.example", "subj:invoice:ann@acme.example"]);
    expect(subjectKeys(msg("b", { subject: "Re: [EXTERNAL]" }))).toEqual([]);
    expect(subjectKeys(msg("c", { externalParticipants: [] }))).toEqual([]);
    const long = subjectKeys(msg("d", { subject: "x".repeat(500) }));
    expect(long).toEqual([expect.stringMatching(/^subj#:[0-9a-f]{64}:client@acme\.com$/)]);
    expect(threadKeys(msg("e", { providerThreads: [{ mailboxId: "m", threadId: "t" }] }))).toEqual([
      "mid:e@mail",
      "pt:m:t",
    ]);
  });

  it("H1/H3: ThreadIndex gives the components of the pairwise rules for any forest, copies and arrival order (property)", () => {
    // The reference: the H1 definition applied to every pair, O(n²), written out independently.
    interface Facts {
      ids: Set<string>;
      chained: boolean;
      subject: string;
      time: number;
      participants: Set<string>;
    }
    const factsOf = (copies: readonly ThreadingMessage[]): Facts => {
      const first = copies[0]!;
      const ids = new Set<string>();
      const participants = new Set<string>();
      for (const copy of copies) {
        for (const id of [copy.messageId, ...copy.inReplyTo, ...copy.references])
          if (id) ids.add(`mid:${id}`);
        for (const t of copy.providerThreads) ids.add(`pt:${t.mailboxId}:${t.threadId}`);
        copy.externalParticipants.forEach((p) => participants.add(p));
      }
      return {
        ids,
        chained: first.inReplyTo.length > 0 || first.references.length > 0,
        subject: normalizeSubject(first.subject),
        time: first.date.getTime(),
        participants,
      };
    };
    const pairLinked = (a: Facts, b: Facts): boolean =>
      [...a.ids].some((id) => b.ids.has(id)) ||
      ((!a.chained || !b.chained) &&
        a.subject !== "" &&
        a.subject === b.subject &&
        Math.abs(a.time - b.time) <= 30 * day &&
        [...a.participants].some((p) => b.participants.has(p)));
    const referencePartition = (byId: Map<string, ThreadingMessage[]>): string[][] => {
      const ids = [...byId.keys()].sort();
      const facts = ids.map((id) => factsOf(byId.get(id)!));
      const component = ids.map((_, i) => i);
      const rootOf = (i: number): number => (component[i] === i ? i : rootOf(component[i]!));
      for (let i = 0; i < ids.length; i++)
        for (let j = i + 1; j < ids.length; j++)
          if (pairLinked(facts[i]!, facts[j]!)) component[rootOf(j)] = rootOf(i);
      const groups = new Map<number, string[]>();
      ids.forEach((id, i) => groups.set(rootOf(i), [...(groups.get(rootOf(i)) ?? []), id]));
      return [...groups.values()].sort((x, y) => x[0]!.localeCompare(y[0]!));
    };

    // Links are sparse so that every rule, the subject rule included, decides some merges. Days
    // cluster on 0/30/60 with ±1 ms so that equal dates and the window's edge come up often.
    const sparse = <T>(arb: fc.Arbitrary<T[]>) =>
      fc.oneof({ weight: 3, arbitrary: fc.constant([] as T[]) }, { weight: 1, arbitrary: arb });
    const ids = Array.from({ length: 14 }, (_, i) => `m${String(i).padStart(2, "0")}`);
    const participants = ["p1@c.com", "p2@c.com", "p3@c.com"];
    const subjects = ["Audit", "Re: Audit", "Invoice", "Fwd: Invoice", "Meeting", "Re:"];
    const base = Date.UTC(2026, 0, 1);
    const copyArb = fc.record({
      mailbox: fc.constantFrom("mb1", "mb2", "mb3"),
      thread: fc.option(fc.constantFrom("t1", "t2"), { nil: undefined, freq: 2 }),
      bcc: fc.option(fc.constantFrom(...participants), { nil: undefined, freq: 1 }),
    });
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
          copies: fc.array(copyArb, { minLength: 1, maxLength: 3 }),
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
            externalParticipants: copy.bcc ? [...new Set([...r.externals, copy.bcc])] : r.externals,
          })),
        );
    const forestArb = fc
      .integer({ min: 1, max: ids.length })
      .chain((size) => fc.tuple(...ids.slice(0, size).map((id, i) => messageArb(id, i))));

    let orders = 0;
    let subjectMerges = 0;
    fc.assert(
      fc.property(forestArb, (forest) => {
        const expected = referencePartition(new Map(forest.map((copies) => [copies[0]!.id, copies])));
        const copies = forest.flat();
        // How often the subject rule mattered: the same forest without subjects splits further.
        const unlinked = referencePartition(
          new Map(forest.map((c) => [c[0]!.id, c.map((m) => ({ ...m, subject: "" }))])),
        );
        if (unlinked.length > expected.length) subjectMerges += 1;
        fc.assert(
          fc.property(fc.shuffledSubarray(copies, { minLength: copies.length }), (arrival) => {
            orders += 1;
            const index = new ThreadIndex();
            for (const copy of arrival) index.add(copy);
            expect(partition(index)).toEqual(expected);
            for (const members of expected)
              for (const id of members) expect(index.threadOf(id)).toBe(members[0]);
          }),
          { numRuns: 10 },
        );
      }),
      { numRuns: 150 },
    );
    expect(orders).toBeGreaterThanOrEqual(1000);
    // The generator must exercise the subject rule, or the property proves little about it.
    expect(subjectMerges).toBeGreaterThan(30);
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
