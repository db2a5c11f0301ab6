/**
 * Filing throughput: 1M envelopes against a directory of 100k sync-on links and 50 internal
 * addresses. Prints decisions/s for `decideFiling` beside a bare loop doing one `Map.get` per
 * (already lower-cased) participant address, measured in the same run, and their ratio.
 *
 *   pnpm bench:filing            # 1M envelopes
 *   BENCH_ENVELOPES=200000 pnpm bench:filing
 */
import { decideFiling, FirmDirectory, type EmailAddress } from "@clientmail/core";

const envelopeCount = Number(process.env.BENCH_ENVELOPES ?? 1_000_000);
const linkCount = 100_000;
const internalCount = 50;
const rounds = 5;

let seed = 42;
function random(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const internal = Array.from({ length: internalCount }, (_, i) => `member${i}@ledger-firm.com`);
const clients = Array.from({ length: linkCount }, (_, i) => `client${i}@customer${i % 5000}.com`);
const strangers = Array.from({ length: 200_000 }, (_, i) => `person${i}@elsewhere${i % 9000}.net`);

const directory = FirmDirectory.build({
  internalAddresses: internal,
  internalDomains: ["ledger-firm.com"],
  links: clients.map((email, i) => ({
    id: `link${i}`,
    accountId: `account${i % 40_000}`,
    email,
    emailSync: true,
  })),
});

type Env = {
  from: EmailAddress[];
  sender: EmailAddress[];
  replyTo: EmailAddress[];
  to: EmailAddress[];
  cc: EmailAddress[];
  bcc: EmailAddress[];
};
const none: EmailAddress[] = [];
const envelopes: Env[] = [];
for (let i = 0; i < envelopeCount; i++) {
  const clientMail = random() < 0.1;
  const inbound = random() < 0.7;
  const outsider = clientMail ? pick(clients) : pick(strangers);
  const member = pick(internal);
  const cc: EmailAddress[] = [];
  const ccCount = Math.floor(random() * 3);
  for (let c = 0; c < ccCount; c++) cc.push({ address: random() < 0.5 ? pick(internal) : pick(strangers) });
  envelopes.push({
    from: [{ address: inbound ? outsider : member }],
    sender: none,
    replyTo: none,
    to: [{ address: inbound ? member : outsider }],
    cc,
    bcc: none,
  });
}

const bareMap = new Map<string, unknown>(clients.map((email) => [email, true]));

function bareLoop(): number {
  let hits = 0;
  for (const envelope of envelopes) {
    for (const list of [
      envelope.from,
      envelope.sender,
      envelope.replyTo,
      envelope.to,
      envelope.cc,
      envelope.bcc,
    ]) {
      for (const entry of list) if (bareMap.get(entry.address) !== undefined) hits++;
    }
  }
  return hits;
}

function ours(): number {
  let filed = 0;
  for (const envelope of envelopes) if (decideFiling(directory, envelope).filed) filed++;
  return filed;
}

function best(fn: () => number): { rate: number; result: number } {
  let bestMs = Infinity;
  let result = 0;
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    result = fn();
    bestMs = Math.min(bestMs, performance.now() - start);
  }
  return { rate: (envelopeCount / bestMs) * 1000, result };
}

const baseline = best(bareLoop);
const measured = best(ours);
const format = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(
  `filing benchmark: ${format(envelopeCount)} envelopes, ${format(linkCount)} sync-on links, ${internalCount} internal addresses (best of ${rounds})`,
);
console.log(
  `  bare Map.get loop : ${format(baseline.rate)} envelopes/s (${format(baseline.result)} address hits)`,
);
console.log(`  decideFiling      : ${format(measured.rate)} decisions/s (${format(measured.result)} filed)`);
console.log(`  ratio             : ${(measured.rate / baseline.rate).toFixed(2)} (target >= 0.30)`);
