/**
 * R4 R2: hostile content — NUL bytes and lone surrogates in the subject, the body, a display name
 * and an attachment name, a raw NUL byte, ids longer than any index entry — must not wedge the
 * mailbox. Each hostile message is made storable (and then filed exactly where its clean twin
 * would be) or quarantined alone; every other message of the mailbox is filed as in a run of the
 * clean twin corpus.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCorpus, generateHostileCorpus, people, staffAddresses } from "./corpus.js";
import { addTrial, compareDigests, emptyTotals, summaryLine, type FaultDigest } from "./digest.js";
import { describeTrial, dovecotSkipReason, FaultSuite, publish, type LoadedCorpus } from "./harness.js";
import { graphBackend, runHttpFirm } from "./http-harness.js";

const skip = dovecotSkipReason();

describe.skipIf(skip !== undefined)(`fault suite: hostile MIME${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let suite: FaultSuite;
  let hostile: LoadedCorpus;
  let clean: LoadedCorpus;
  let reference: FaultDigest;

  beforeAll(async () => {
    suite = await FaultSuite.open();
    hostile = await suite.loadCorpus(generateHostileCorpus({ clean: false }));
    clean = await suite.loadCorpus(generateHostileCorpus({ clean: true }));
    const firm = await suite.createFirm();
    const outcome = await suite.runTrial(firm, clean);
    if (!outcome.synced)
      throw new Error(`the run of the clean twin corpus failed: ${describeTrial(outcome)}`);
    reference = await suite.digest(firm, clean);
    await firm.dispose();
  }, 180_000);
  afterAll(async () => {
    await suite?.close();
  });

  it("R4 R2: NUL bytes, lone surrogates and oversized ids never wedge the mailbox: each hostile message is made storable or quarantined alone, the rest is filed", async () => {
    const started = Date.now();
    const hostileMessages = hostile.corpus.messages.filter((m) => m.kind === "hostile");
    expect(hostileMessages.length).toBeGreaterThanOrEqual(10);
    const firm = await suite.createFirm();
    const outcome = await suite.runTrial(firm, hostile, { timeoutMs: 120_000 });
    const digest = await suite.digest(firm, hostile);
    const diff = compareDigests(reference, digest, {
      quarantinable: new Map(hostileMessages.map((m) => [m.tag, m.attachments])),
    });
    const totals = emptyTotals();
    addTrial(totals, diff, outcome.hung);
    const quarantined = new Set(
      Object.keys(digest.quarantine).map((key) => key.split("|").slice(2).join("|")),
    );
    const fate = hostileMessages.map((m) => {
      const filed = Object.values(digest.filed).some((identities) => identities[m.tag]);
      return `${m.hostility}: ${filed ? "filed" : quarantined.has(m.tag) ? "quarantined" : "missing"}`;
    });
    publish(
      summaryLine("R4 hostile MIME (NUL, lone surrogates, oversized ids)", totals, Date.now() - started) +
        `\n[faults]   ${fate.join("\n[faults]   ")}`,
    );
    await firm.dispose();
    expect(diff.details, `${describeTrial(outcome)}\n${diff.details.join("\n")}`).toEqual([]);
    expect(outcome.synced, describeTrial(outcome)).toBe(true);
    expect(Object.values(digest.states)).toEqual(["live", "live", "live"]);
  }, 300_000);
});

/**
 * R2 R1: a message the server refuses alone, on a healthy connection, is quarantined — listed with
 * its reason, the rest of the mailbox filed — and a later retry (due after the quarantine's
 * backoff: the next worker runs two days "later") files it, ending exactly as a fault-free run.
 */
describe.skipIf(skip !== undefined)(`fault suite: quarantine${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let suite: FaultSuite;
  let loaded: LoadedCorpus;
  let baseline: FaultDigest;

  beforeAll(async () => {
    suite = await FaultSuite.open();
    ({ loaded, baseline } = await suite.sharedBaseCorpus(generateCorpus));
  }, 240_000);
  afterAll(async () => {
    await suite?.close();
  });

  it("R2 R1: a message the server refuses alone is quarantined with its reason while the rest is filed, and a later retry files it", async () => {
    const started = Date.now();
    // Client mail that only Ann's mailbox holds, one with an attachment.
    const onlyAnn = loaded.corpus.messages.filter(
      (m) => m.accounts.length > 0 && m.copies.length === 1 && m.copies[0]!.mailbox === "ann",
    );
    const refused = [onlyAnn.find((m) => m.attachments.length > 0) ?? onlyAnn[0]!, onlyAnn[1]!];
    const tags = refused.map((m) => m.tag);
    const firm = await suite.createFirm();
    const first = await suite.runTrial(firm, loaded, { refuseTags: tags });
    const during = await suite.digest(firm, loaded);
    const duringDiff = compareDigests(baseline, during, {
      quarantinable: new Map(refused.map((m) => [m.tag, m.attachments])),
    });
    const expectedQuarantine = Object.fromEntries(tags.map((tag) => [`ann|server_refused|${tag}`, 1]));
    const later = await suite.runTrial(firm, loaded, { clockSkewMs: 2 * 24 * 3_600_000 });
    const after = await suite.digest(firm, loaded);
    const afterDiff = compareDigests(baseline, after);
    const totals = emptyTotals();
    addTrial(totals, afterDiff, !first.synced || !later.synced);
    publish(
      summaryLine("R2 quarantine of messages refused alone, then retried", totals, Date.now() - started) +
        ` quarantined=${Object.keys(during.quarantine).length}/${tags.length} left-after-retry=${Object.keys(after.quarantine).length}`,
    );
    await firm.dispose();
    expect(first.synced, describeTrial(first)).toBe(true);
    expect(during.quarantine, "the refused messages are in quarantine, with their reason").toEqual(
      expectedQuarantine,
    );
    expect(duringDiff.details, "the rest of the mailbox is filed").toEqual([]);
    expect(later.synced, describeTrial(later)).toBe(true);
    expect(after.quarantine, "the retry emptied the quarantine").toEqual({});
    expect(afterDiff.details, "after the retry the firm is as after a fault-free run").toEqual([]);
  }, 300_000);
});

/**
 * Over IMAP, header decoders never yield a lone surrogate; over Graph the JSON does (`"\ud83d"`),
 * straight into the subject and display names the store keeps — as does a `"\u0000"`.
 */
describe("fault suite: hostile text from the Graph API", () => {
  const hostilities = [
    { name: "NUL in the subject", subject: (tag: string) => `Receipts\u0000scan [${tag}]` },
    { name: "lone surrogate in the subject", subject: (tag: string) => `Receipts \ud83d scan [${tag}]` },
    { name: "NUL in the display name", fromName: "Jo\u0000Jordan" },
    { name: "lone surrogate in the display name", fromName: "Jo \ud83d Jordan" },
  ];
  const base = generateCorpus({ seed: 7, threads: 8, large: 0, prefix: "cmg" });
  const load = (backend: ReturnType<typeof graphBackend>, clean: boolean) => {
    backend.load(base);
    for (const [index, hostility] of hostilities.entries()) {
      const tag = `cmg-${9001 + index}`;
      const date = new Date(Date.UTC(2026, 4, 1, 9 + index));
      backend.mailboxes.ann.addMessage({
        from: { name: clean ? "Jo Jordan" : (hostility.fromName ?? "Jo Jordan"), address: people.jo.address },
        to: [staffAddresses.ann],
        subject: clean || !hostility.subject ? `Receipts scan [${tag}]` : hostility.subject(tag),
        messageId: `<${tag}@home.example>`,
        date,
        text: `Figures ${tag}.`,
      });
      const after = `cmg-${9101 + index}`;
      backend.mailboxes.ann.addMessage({
        from: { name: people.petra.name, address: people.petra.address },
        to: [staffAddresses.ann],
        subject: `Follow-up [${after}]`,
        messageId: `<${after}@acme.example>`,
        date: new Date(date.getTime() + 60_000),
        text: `Follow-up ${after}.`,
      });
    }
  };
  let suite: FaultSuite;
  beforeAll(async () => {
    suite = await FaultSuite.open({ imap: false });
  });
  afterAll(async () => {
    await suite?.close();
  });

  it("R4 R2: NUL and lone surrogates in a Graph subject or display name are made storable or quarantined alone; the rest is filed", async () => {
    const started = Date.now();
    const cleanBackend = graphBackend();
    load(cleanBackend, true);
    const cleanRun = await runHttpFirm(suite, cleanBackend);
    expect(cleanRun.synced, "the clean twin run did not complete").toBe(true);
    const reference = await cleanRun.digest();
    await cleanRun.firm.dispose();

    const backend = graphBackend();
    load(backend, false);
    const run = await runHttpFirm(suite, backend);
    const digest = await run.digest();
    const tags = hostilities.map((_, index) => `cmg-${9001 + index}`);
    const diff = compareDigests(reference, digest, { quarantinable: new Map(tags.map((tag) => [tag, []])) });
    const totals = emptyTotals();
    addTrial(totals, diff, !run.synced);
    const quarantined = new Set(
      Object.keys(digest.quarantine).map((key) => key.split("|").slice(2).join("|")),
    );
    const fate = hostilities.map((h, index) => {
      const tag = tags[index]!;
      const filed = Object.values(digest.filed).some((identities) => identities[tag]);
      return `${h.name}: ${filed ? "filed" : quarantined.has(tag) ? "quarantined" : "missing"}`;
    });
    publish(
      summaryLine("R4 hostile text from the Graph API", totals, Date.now() - started) +
        `\n[faults]   ${fate.join("\n[faults]   ")}`,
    );
    await run.firm.dispose();
    const states = Object.entries(run.statuses).map(([mailbox, list]) => `${mailbox}: ${list.join(" > ")}`);
    expect(diff.details, `${states.join("\n")}\n${diff.details.join("\n")}`).toEqual([]);
    expect(run.synced, states.join("\n")).toBe(true);
  }, 120_000);
});
