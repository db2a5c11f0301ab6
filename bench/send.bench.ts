/**
 * Bulk send (S1, S2, T5): one templated message to 500 accounts, through the facade, the job
 * queue and a worker (`createWorker`, which opens the mailbox's Gmail sender itself), to the Gmail
 * fake. Checks that every account got exactly one message, to its contact, with its own
 * shortcodes resolved; prints the wall time, messages per minute, how the sends were paced (the
 * per-user quota's waits) and the provider requests per message.
 *
 * Gmail's per-user quota (15,000 units a minute; `messages.send` costs 100, reading the sent copy
 * back 5) holds a mailbox to about 140 messages a minute, so the run uses a simulated clock: the
 * quota's waits advance it instantly, and the simulated time is what the same sends would take
 * in real time. One mailbox's sends run one at a time (the quota is the mailbox's anyway).
 *
 *   pnpm bench:send
 *   BENCH_ACCOUNTS=100 pnpm bench:send
 */
import { createClientMail, createWorker, defaultNotifyPreferences } from "@clientmail/core";
import { silentLogger } from "@clientmail/core/ports";
// Relative imports: the workspace root depends on @clientmail/core only.
import { createGmailProvider, createGmailSender } from "../packages/providers/gmail/src/index.js";
import { createMemoryJobQueue, createMemoryStore } from "../packages/storage-adapters/memory/src/index.js";
import { createGmailFake } from "../packages/testkit/src/fakes/gmail/index.js";

const accounts = Number(process.env.BENCH_ACCOUNTS ?? 500);
const owner = "ann@ledger-firm.com";

/** A clock that waits advance instantly; counts the waits. */
function simulatedTime() {
  let now = Date.UTC(2026, 11, 7, 8, 0);
  const start = now;
  const waits = { count: 0, ms: 0 };
  return {
    clock: { now: () => new Date(now) },
    sleep: async (ms: number) => {
      waits.count += 1;
      waits.ms += ms;
      now += ms;
    },
    elapsedMs: () => now - start,
    waits,
  };
}

function headerOf(raw: string, name: string): string | undefined {
  const end = raw.indexOf("\r\n\r\n");
  const head = raw.slice(0, end < 0 ? raw.length : end).replace(/\r\n[ \t]+/g, " ");
  const wanted = `${name.toLowerCase()}:`;
  return head
    .split("\r\n")
    .find((line) => line.toLowerCase().startsWith(wanted))
    ?.slice(wanted.length)
    .trim();
}

async function main(): Promise<void> {
  const time = simulatedTime();
  const fake = createGmailFake({ clock: time.clock });
  fake.addUser(owner);
  const store = createMemoryStore();
  const queue = createMemoryJobQueue({
    store,
    clock: time.clock,
    retryDelayMs: () => 10,
  });
  const cm = createClientMail({ store, queue, clock: time.clock });

  const firm = await cm.createFirm({ name: "Ledger & Partners", internalDomains: ["ledger-firm.com"] });
  const ann = await cm.addMember(firm.id, { name: "Ann Lee", email: owner, role: "owner" });
  const box = await cm.connectMailbox(firm.id, ann.id, { provider: "gmail", address: owner });
  const expected = new Map<string, { first: string; account: string }>();
  const accountIds: string[] = [];
  for (let i = 0; i < accounts; i += 1) {
    const account = await store.createAccount(
      firm.id,
      { name: `Client ${i} Ltd`, kind: "business" },
      time.clock.now(),
    );
    const contact = await store.createContact(firm.id, { firstName: `First${i}`, lastName: `Last${i}` });
    const email = `contact${i}@client${i}.example`;
    await store.createLink(firm.id, {
      accountId: account.id,
      contactId: contact.id,
      email,
      login: false,
      notify: true,
      emailSync: true,
      signatory: false,
      notifyPreferences: defaultNotifyPreferences(),
    });
    expected.set(email, { first: `First${i}`, account: `Client ${i} Ltd` });
    accountIds.push(account.id);
  }

  const worker = createWorker({
    store,
    queue,
    clock: time.clock,
    logger: silentLogger,
    holder: "bench-send",
    concurrency: 1,
    queuePollIntervalMs: 1,
    pollIntervalMs: 24 * 60 * 60_000,
    auditIntervalMs: 365 * 86_400_000,
    followUpMs: 24 * 60 * 60_000,
    maxWatchers: 0,
    providerFor: (mailbox) =>
      createGmailProvider({
        credentials: { ...fake.oauthClient, refreshToken: fake.refreshTokenOf(mailbox.address)! },
        emailAddress: mailbox.address,
        fetch: fake.fetch,
        clock: time.clock,
        sleep: time.sleep,
      }),
    senderFactory: (mailbox) =>
      createGmailSender({
        credentials: { ...fake.oauthClient, refreshToken: fake.refreshTokenOf(mailbox.address)! },
        emailAddress: mailbox.address,
        fetch: fake.fetch,
        clock: time.clock,
        sleep: time.sleep,
      }),
  });
  await worker.start();
  // The mailbox's first pass (an empty mailbox) out of the way, so the counts below are the sends'.
  while ((await queue.stats()).running > 0 || (await queue.stats()).oldestWaitingAt !== undefined)
    await new Promise((resolve) => setTimeout(resolve, 5));
  fake.resetUsage();
  const callsBefore = fake.calls.length;
  const simulatedBefore = time.elapsedMs();
  const waitsBefore = { ...time.waits };

  const wall = performance.now();
  const result = await cm.send(firm.id, {
    actor: { kind: "member", memberId: ann.id },
    mailboxId: box.id,
    accountIds,
    subject: "Your [ACCOUNT_NAME] organizer for 2026",
    text: "Dear [CONTACT_FIRST_NAME],\n\nThe 2026 organizer for [ACCOUNT_NAME] is ready.\n\n[SENDER_NAME], [FIRM_NAME]",
  });
  const composeMs = performance.now() - wall;
  for (;;) {
    const open = (await store.listOutbox(firm.id)).filter(
      (m) => m.state === "scheduled" || m.state === "submitting",
    );
    if (open.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const wallMs = performance.now() - wall;
  await worker.stop({ timeoutMs: 2_000 });

  // Every account: exactly one message, to its contact, with its own shortcodes.
  const problems: string[] = [];
  const sent = [...fake.mailbox(owner)!.messages.values()].filter((m) => m.labelIds.includes("SENT"));
  const seen = new Map<string, number>();
  for (const message of sent) {
    const raw = message.raw.toString("utf8");
    const to = headerOf(raw, "To") ?? "";
    const address = /<([^>]+)>/.exec(to)?.[1] ?? to;
    seen.set(address, (seen.get(address) ?? 0) + 1);
    const want = expected.get(address);
    if (!want) {
      problems.push(`a message to ${to}`);
      continue;
    }
    if (headerOf(raw, "Cc") || headerOf(raw, "Bcc")) problems.push(`${address}: Cc or Bcc present`);
    if (headerOf(raw, "Subject") !== `Your ${want.account} organizer for 2026`)
      problems.push(`${address}: subject ${headerOf(raw, "Subject")}`);
    if (!raw.includes(`Dear ${want.first},`) || !raw.includes(`organizer for ${want.account} is ready`))
      problems.push(`${address}: body not personalised`);
    if (!raw.includes("Ann Lee, Ledger & Partners")) problems.push(`${address}: sender or firm shortcode`);
    if (/\[[A-Z_]+\]/.test(raw)) problems.push(`${address}: an unresolved shortcode`);
  }
  for (const address of expected.keys())
    if (seen.get(address) !== 1) problems.push(`${address}: ${seen.get(address) ?? 0} messages`);
  const failed = (await store.listOutbox(firm.id)).filter((m) => m.state !== "sent");

  const requests = fake.calls.length - callsBefore;
  const byMethod = new Map<string, number>();
  for (const call of fake.calls.slice(callsBefore))
    byMethod.set(call.method, (byMethod.get(call.method) ?? 0) + 1);
  const simulatedMs = time.elapsedMs() - simulatedBefore;
  const waits = { count: time.waits.count - waitsBefore.count, ms: time.waits.ms - waitsBefore.ms };
  const perMinute = (n: number, ms: number) => (ms > 0 ? ((n * 60_000) / ms).toFixed(0) : "∞");
  console.log(
    `bench:send — ${accounts} accounts, one templated message each, through createWorker to the Gmail fake`,
  );
  console.log(
    `  queued (facade, ${result.messages.length} messages, ${result.skipped.length} skipped): ${composeMs.toFixed(0)} ms`,
  );
  console.log(
    `  wall time to all sent: ${(wallMs / 1000).toFixed(1)} s (${perMinute(sent.length, wallMs)} messages/min wall)`,
  );
  console.log(
    `  simulated clock: Gmail's per-user quota (15,000 units/min; send 100 + read-back 5 units) was enforced in simulated time: ${(simulatedMs / 60_000).toFixed(2)} min simulated = ${perMinute(sent.length, simulatedMs)} messages/min at real pacing`,
  );
  console.log(
    `  pacing: ${waits.count} quota waits, ${(waits.ms / 1000).toFixed(1)} s waited in total (simulated); rate-limit errors from Gmail: ${fake.calls.slice(callsBefore).filter((c) => c.status === 429 || c.status === 403).length}`,
  );
  console.log(
    `  provider requests: ${requests} (${(requests / Math.max(1, sent.length)).toFixed(2)} per message: ${[...byMethod].map(([m, n]) => `${m} ${n}`).join(", ")}); quota units ${fake.unitsSpent(owner)} (${(fake.unitsSpent(owner) / Math.max(1, sent.length)).toFixed(0)} per message)`,
  );
  console.log(
    `  check: ${sent.length} messages sent, ${failed.length} not sent, ${problems.length} problems${problems.length ? `: ${problems.slice(0, 5).join("; ")}` : " (every account: one message, its contact only, its own shortcodes)"}`,
  );
  if (problems.length > 0 || failed.length > 0 || sent.length !== accounts) process.exitCode = 1;
}

await main();
