/**
 * Gmail targeted backfill (Y5): a 20,000-message fake mailbox, 10% of it exchanged with the
 * firm's clients. The provider runs the way the engine does: one `q` search of the client
 * addresses, a filing decision per envelope, then `fetch` of the filed ids. Prints the quota
 * units spent per filed message beside the minimum (one `messages.list` per page of matches plus
 * one `messages.get` per filed message) and beside ingesting everything (listing and reading
 * every message's metadata, then the filed ones' source), with the time each takes at the
 * configured per-user quota (simulated clock: waits advance it instantly).
 *
 *   pnpm bench:gmail
 *   BENCH_MESSAGES=5000 pnpm bench:gmail
 *   BENCH_REGIME=2026 pnpm bench:gmail     # 6,000 units/min per user, messages.get = 20 units
 */
import { decideFiling, FirmDirectory, isUnreadable, type ProviderEnvelope } from "@clientmail/core";
// Relative imports: the workspace root depends on @clientmail/core only.
import { createGmailProvider, type GmailApiMethod } from "../packages/providers/gmail/src/index.js";
import { buildRawMessage, createGmailFake } from "../packages/testkit/src/fakes/gmail/index.js";

const messageCount = Number(process.env.BENCH_MESSAGES ?? 20_000);
const clientShare = 0.1;
const clientCount = 200;
const regime = process.env.BENCH_REGIME === "2026" ? "2026" : "legacy";
const unitsPerMinute = regime === "2026" ? 6_000 : 15_000;
const costs: Partial<Record<GmailApiMethod, number>> = regime === "2026" ? { "users.messages.get": 20 } : {};
const owner = "ann@ledger-firm.com";

let seed = 7;
function random(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const clients = Array.from({ length: clientCount }, (_, i) => `contact${i}@customer${i}.com`);
const strangers = Array.from({ length: 5_000 }, (_, i) => `person${i}@elsewhere${i % 700}.net`);
const colleagues = Array.from({ length: 20 }, (_, i) => `member${i}@ledger-firm.com`);
const directory = FirmDirectory.build({
  internalAddresses: [owner, ...colleagues],
  internalDomains: ["ledger-firm.com"],
  links: clients.map((email, i) => ({ id: `link${i}`, accountId: `account${i}`, email, emailSync: true })),
});

function virtualTime() {
  let now = Date.UTC(2026, 5, 1);
  const start = now;
  return {
    clock: { now: () => new Date(now) },
    sleep: async (ms: number) => {
      now += ms;
    },
    elapsedMs: () => now - start,
  };
}

function populate() {
  const time = virtualTime();
  const fake = createGmailFake({
    clock: time.clock,
    quota: { regime, unitsPerUserPerMinute: unitsPerMinute, costs },
  });
  const mailbox = fake.addUser(owner);
  let clientMessages = 0;
  for (let n = 0; n < messageCount; n += 1) {
    const date = new Date(Date.UTC(2024, 0, 1) + n * 45 * 60_000);
    const isClient = random() < clientShare;
    if (isClient) clientMessages += 1;
    const other = isClient ? pick(clients) : random() < 0.3 ? pick(colleagues) : pick(strangers);
    const outbound = random() < 0.35;
    const cc = random() < 0.2 ? pick(strangers) : undefined;
    const raw = buildRawMessage({
      from: outbound ? owner : `Someone <${other}>`,
      to: outbound ? other : owner,
      ...(cc ? { cc } : {}),
      subject: `Message ${n}`,
      date,
      messageId: `<m${n}@bench.example>`,
      text: `Body of message ${n}.`,
    });
    mailbox.addMessage({ raw, labelIds: outbound ? ["SENT"] : ["INBOX"], internalDate: date });
  }
  return { time, fake, clientMessages };
}

function providerFor(fake: ReturnType<typeof createGmailFake>, time: ReturnType<typeof virtualTime>) {
  return createGmailProvider({
    credentials: { ...fake.oauthClient, refreshToken: fake.refreshTokenOf(owner)! },
    emailAddress: owner,
    fetch: fake.fetch,
    clock: time.clock,
    sleep: time.sleep,
    quota: { unitsPerUserPerMinute: unitsPerMinute, costs },
  });
}

function filed(envelope: ProviderEnvelope): boolean {
  return decideFiling(directory, envelope).filed;
}

function rateLimitErrors(fake: ReturnType<typeof createGmailFake>): number {
  return fake.calls.filter((call) => call.status === 403 || call.status === 429).length;
}

const minutes = (ms: number) => `${(ms / 60_000).toFixed(1)} min`;

async function targeted() {
  const { time, fake, clientMessages } = populate();
  fake.resetUsage();
  const provider = providerFor(fake, time);
  const wall = performance.now();
  const toFetch: string[] = [];
  let matches = 0;
  for await (const batch of provider.search({ addresses: clients })) {
    matches += batch.length;
    for (const envelope of batch) if (filed(envelope)) toFetch.push(envelope.providerId);
  }
  let fetched = 0;
  for await (const message of provider.fetch(toFetch)) {
    if (!isUnreadable(message) && message.text !== undefined) fetched += 1;
  }
  await provider.close();
  const units = fake.unitsSpent(owner);
  const listCost = fake.costOf("users.messages.list");
  const getCost = fake.costOf("users.messages.get");
  const minimum = Math.max(1, Math.ceil(fetched / 500)) * listCost + fetched * getCost;
  return {
    clientMessages,
    matches,
    fetched,
    units,
    minimum,
    lists: fake.callCount("users.messages.list"),
    simulatedMs: time.elapsedMs(),
    wallMs: performance.now() - wall,
    rateLimitErrors: rateLimitErrors(fake),
  };
}

async function ingestEverything() {
  const { time, fake } = populate();
  fake.resetUsage();
  const provider = providerFor(fake, time);
  const wall = performance.now();
  const toFetch: string[] = [];
  for await (const page of provider.changes(undefined)) {
    for (const envelope of page.added) if (filed(envelope)) toFetch.push(envelope.providerId);
  }
  let fetched = 0;
  for await (const _message of provider.fetch(toFetch)) fetched += 1;
  await provider.close();
  return {
    fetched,
    units: fake.unitsSpent(owner),
    simulatedMs: time.elapsedMs(),
    wallMs: performance.now() - wall,
    rateLimitErrors: rateLimitErrors(fake),
  };
}

const target = await targeted();
const everything = await ingestEverything();
const ratio = target.units / target.minimum;
const budget = Math.floor(unitsPerMinute * 0.9);
console.log(
  `Gmail targeted backfill — ${messageCount} messages, ${target.clientMessages} with ${clientCount} clients, ${regime} quota (${unitsPerMinute} units/min per user, paced to ${budget})`,
);
console.log(
  `  q search + raw get of matches: ${target.lists} messages.list calls, ${target.matches} matches, ${target.fetched} filed`,
);
console.log(
  `  units spent:             ${target.units} (${(target.units / target.fetched).toFixed(2)} per filed message)`,
);
console.log(
  `  minimum:                 ${target.minimum} (${(target.minimum / target.fetched).toFixed(2)} per filed message)  -> ${ratio.toFixed(3)}x the minimum (target <= 1.1x)`,
);
console.log(
  `  ingest everything:       ${everything.units} (${(everything.units / everything.fetched).toFixed(2)} per filed message, ${(everything.units / target.units).toFixed(1)}x the targeted cost)`,
);
// Calls take no simulated time, so the quota is the only clock: units over the paced budget,
// and the pacer's actual waits on the simulated clock.
console.log(
  `  time at the quota:       targeted ${minutes((target.units / budget) * 60_000)}, ingest everything ${minutes((everything.units / budget) * 60_000)}` +
    ` (units / ${budget} per min; pacer waited ${minutes(target.simulatedMs)} and ${minutes(everything.simulatedMs)} on the simulated clock)`,
);
console.log(
  `  rate-limit errors:       targeted ${target.rateLimitErrors}, ingest everything ${everything.rateLimitErrors}`,
);
console.log(
  `  wall time:               targeted ${(target.wallMs / 1000).toFixed(1)} s, ingest everything ${(everything.wallMs / 1000).toFixed(1)} s`,
);
const ok =
  ratio <= 1.1 &&
  target.rateLimitErrors === 0 &&
  everything.rateLimitErrors === 0 &&
  target.fetched === target.clientMessages;
if (!ok) {
  console.error("FAILED: target is <= 1.1x the minimum, 0 rate-limit errors, every client message filed");
  process.exitCode = 1;
}
