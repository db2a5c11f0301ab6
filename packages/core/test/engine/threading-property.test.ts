/**
 * H1–H3 as a property of the product, not of a helper: random message forests, with copies spread
 * over several mailboxes (each with its own conversation ids), delivered in random orders and page
 * sizes through the real engine into a real store, always end in the partition H1 defines.
 *
 * The oracle below is H1 written as plainly as possible (every pair compared), so that it can be
 * read against the SPEC line by line.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalizeSubject } from "../../src/index.js";
import { at, makeFirm, type Firm } from "./firm-fixture.js";
import { engineStores } from "./stores.js";

const day = 24 * 60 * 60 * 1000;
const base = new Date("2026-01-05T09:00:00Z").getTime();
const clients = ["jo@home.example", "petra@acme.example"] as const;
const subjects = ["Invoice", "Re: Invoice", "AW: invoice", "Question", "Fwd: Question", ""] as const;
const days = [0, 10, 20, 30, 31, 45, 61] as const;
type MailboxName = "ann" | "bob" | "support";
const mailboxNames: readonly MailboxName[] = ["ann", "bob", "support"];

interface GeneratedMessage {
  index: number;
  client: (typeof clients)[number];
  inbound: boolean;
  /** A client in Bcc of an outbound message: only the sender's copy (the first) shows it. */
  bcc: (typeof clients)[number] | undefined;
  subject: string;
  day: number;
  /** Ids this message references: earlier messages (`g<n>`) or ones the firm never sees (`ghost<n>`). */
  references: string[];
  copies: Array<{ mailbox: MailboxName; thread: string | undefined }>;
}

interface Scenario {
  messages: GeneratedMessage[];
  pageSize: number;
  /** Copies in arrival order, with a sync of a mailbox after some of them. */
  deliveries: Array<{ message: number; copy: number; syncAfter: MailboxName | undefined }>;
}

const messageArb = (index: number): fc.Arbitrary<GeneratedMessage> =>
  fc.record({
    index: fc.constant(index),
    client: fc.constantFrom(...clients),
    inbound: fc.boolean(),
    bcc: fc.option(fc.constantFrom(...clients), { nil: undefined, freq: 3 }),
    subject: fc.constantFrom(...subjects),
    day: fc.constantFrom(...days),
    references: fc.oneof(
      { weight: 3, arbitrary: fc.constant([] as string[]) },
      {
        weight: 2,
        arbitrary: fc.array(
          fc.oneof(
            fc
              .integer({ min: 0, max: Math.max(0, index - 1) })
              .map((n) => (index === 0 ? "ghost0" : `g${n}`)),
            fc.integer({ min: 0, max: 2 }).map((n) => `ghost${n}`),
          ),
          { minLength: 1, maxLength: 2 },
        ),
      },
    ),
    copies: fc.uniqueArray(
      fc.record({
        mailbox: fc.constantFrom(...mailboxNames),
        thread: fc.option(fc.constantFrom("t1", "t2"), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 3, selector: (copy) => copy.mailbox },
    ),
  });

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .integer({ min: 2, max: 9 })
  .chain((count) => fc.tuple(...Array.from({ length: count }, (_, i) => messageArb(i))))
  .chain((messages) => {
    const copies = messages.flatMap((m) => m.copies.map((_, copy) => ({ message: m.index, copy })));
    return fc.record({
      messages: fc.constant(messages),
      pageSize: fc.integer({ min: 1, max: 4 }),
      deliveries: fc
        .shuffledSubarray(copies, { minLength: copies.length, maxLength: copies.length })
        .chain((order) =>
          fc
            .tuple(
              ...order.map(() => fc.option(fc.constantFrom(...mailboxNames), { nil: undefined, freq: 2 })),
            )
            .map((syncs) => order.map((delivery, i) => ({ ...delivery, syncAfter: syncs[i] }))),
        ),
    });
  });

const internalOf: Record<MailboxName, string> = {
  ann: "ann@ledger.example",
  bob: "bob@ledger.example",
  support: "support@ledger.example",
};

/** H1 read literally: the connected components of the pairwise links. */
function expectedPartition(messages: readonly GeneratedMessage[]): string[][] {
  const parent = messages.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const union = (a: number, b: number) => {
    parent[find(a)] = find(b);
  };
  const keys = (m: GeneratedMessage) =>
    new Set([
      `mid:g${m.index}`,
      ...m.references.map((r) => `mid:${r}`),
      ...m.copies.flatMap((c) => (c.thread ? [`pt:${c.mailbox}:${c.thread}`] : [])),
    ]);
  for (let i = 0; i < messages.length; i++) {
    for (let j = i + 1; j < messages.length; j++) {
      const a = messages[i]!;
      const b = messages[j]!;
      const shared = [...keys(a)].some((key) => keys(b).has(key));
      // The subject rule: at least one has no reply chain, same non-empty normalised subject, a
      // shared external participant, at most 30 days apart.
      const externals = (m: GeneratedMessage) => [m.client, ...(!m.inbound && m.bcc ? [m.bcc] : [])];
      const subject =
        (a.references.length === 0 || b.references.length === 0) &&
        normalizeSubject(a.subject) !== "" &&
        normalizeSubject(a.subject) === normalizeSubject(b.subject) &&
        externals(a).some((client) => externals(b).includes(client)) &&
        Math.abs(a.day - b.day) * day <= 30 * day;
      if (shared || subject) union(i, j);
    }
  }
  const groups = new Map<number, string[]>();
  messages.forEach((m, i) => groups.set(find(i), [...(groups.get(find(i)) ?? []), `g${m.index}`]));
  return canonical([...groups.values()]);
}

function canonical(groups: string[][]): string[][] {
  return groups.map((g) => [...g].sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

async function deliver(f: Firm, scenario: Scenario): Promise<string[][]> {
  const boxId = (name: MailboxName) => f.boxes[name].id;
  for (const { message: index, copy, syncAfter } of scenario.deliveries) {
    const m = scenario.messages[index]!;
    const { mailbox, thread } = m.copies[copy]!;
    const client = at(m.client);
    // Every copy of one message has the same headers, whichever mailbox it lands in (but a Bcc).
    const internal = at(internalOf[m.copies[0]!.mailbox]);
    f.box(boxId(mailbox)).append({
      messageId: `<g${m.index}@x.example>`,
      references: m.references.map((r) => `<${r}@x.example>`),
      providerThreadId: thread,
      from: [m.inbound ? client : internal],
      to: [m.inbound ? internal : client],
      // The sender's copy of an outbound message shows its Bcc; the other copies do not.
      bcc: !m.inbound && m.bcc && copy === 0 ? [at(m.bcc)] : [],
      subject: m.subject,
      date: new Date(base + m.day * day),
      text: "…",
    });
    if (syncAfter) await f.sync(boxId(syncAfter)).syncOnce();
  }
  for (const name of mailboxNames) await f.sync(boxId(name)).syncOnce();
  const filed = await f.store.findMessagesByMessageIds(
    f.firm.id,
    scenario.messages.map((m) => `g${m.index}@x.example`),
  );
  expect(filed).toHaveLength(scenario.messages.length);
  const groups = new Map<string, string[]>();
  for (const record of filed) {
    const name = record.messageId!.replace("@x.example", "");
    groups.set(record.threadId, [...(groups.get(record.threadId) ?? []), name]);
  }
  return canonical([...groups.values()]);
}

const scale = Number(process.env.CLIENTMAIL_PROPERTY_SCALE ?? 1);

describe.each(engineStores)("threading through the engine on the $name", ({ name, make }) => {
  it("H1, H3: any arrival order, any split of copies across mailboxes and pages (a Bcc on the sender's copy only), gives the partition H1 defines (property)", async () => {
    const tried = { forests: 0, orders: 0 };
    const numRuns = (name === "memory store" ? 60 : 12) * scale;
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.infiniteStream(scenarioArb), async (scenario, reorders) => {
        const expected = expectedPartition(scenario.messages);
        tried.forests += 1;
        // The same forest again in another order, with another page size: the same partition.
        const again = reorders.next().value as Scenario;
        const orders = [
          scenario,
          {
            ...scenario,
            pageSize: again.pageSize,
            deliveries: fc.sample(
              fc.shuffledSubarray(scenario.deliveries, {
                minLength: scenario.deliveries.length,
                maxLength: scenario.deliveries.length,
              }),
              1,
            )[0]!,
          },
        ];
        for (const order of orders) {
          const f = await makeFirm({ makeStore: make, pageSize: order.pageSize });
          expect(await deliver(f, order)).toEqual(expected);
          tried.orders += 1;
        }
      }),
      // The CI-sized sample; `CLIENTMAIL_PROPERTY_SCALE=10 pnpm test:faults` tries ten times as many.
      { numRuns },
    );
    // Reported on every run, so a change that makes the sample smaller shows.
    console.info(
      `H1-H3 engine property on the ${name}: ${tried.forests} forests, ${tried.orders} arrival orders tried`,
    );
    expect(tried.orders).toBe(2 * numRuns);
  }, 600_000);
});
