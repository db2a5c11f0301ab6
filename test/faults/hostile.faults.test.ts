/**
 * R4 R2: hostile content — NUL bytes and lone surrogates in the subject, the body, a display name
 * and an attachment name, a raw NUL byte, ids longer than any index entry — must not wedge the
 * mailbox. Each hostile message is made storable (and then filed exactly where its clean twin
 * would be) or quarantined alone; every other message of the mailbox is filed as in a run of the
 * clean twin corpus.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateHostileCorpus } from "./corpus.js";
import { addTrial, compareDigests, emptyTotals, summaryLine, type FaultDigest } from "./digest.js";
import { describeTrial, dovecotSkipReason, FaultSuite, publish, type LoadedCorpus } from "./harness.js";

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
    await firm.documents.remove();
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
    await firm.documents.remove();
    expect(diff.details, `${describeTrial(outcome)}\n${diff.details.join("\n")}`).toEqual([]);
    expect(outcome.synced, describeTrial(outcome)).toBe(true);
    expect(Object.values(digest.states)).toEqual(["live", "live", "live"]);
  }, 300_000);
});
