/**
 * T7 Y5 R8: turning email sync on for an address — through the facade wired to the job queue, as
 * a host's web process does — enqueues the backfill of that address's history in the toggle's own
 * transaction. Killing every process before the backfill has run (right after the toggle
 * committed, before any worker took a job; as the queue hands the backfill over; as it fans out
 * per mailbox) and starting again must file that history: the firm ends as a run without a kill,
 * and as the answer key says.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { autoSaving, generateCorpus, people, type Corpus } from "./corpus.js";
import {
  addTrial,
  compareDigests,
  emptyTotals,
  expectedDigest,
  summaryLine,
  type FaultDigest,
} from "./digest.js";
import {
  describeTrial,
  dovecotSkipReason,
  FaultSuite,
  publish,
  scale,
  type FaultFirm,
  type LoadedCorpus,
} from "./harness.js";
import type { Point } from "./worker-protocol.js";

const skip = dovecotSkipReason();

/** Sam's link is in the Jordan family account: with email sync on, Sam's mail is filed there too. */
const samAccount = "Jordan family";

/** The corpus's answer key once email sync is on for Sam. */
function withSamSynced(corpus: Corpus): Corpus {
  return {
    ...corpus,
    messages: corpus.messages.map((message) =>
      message.externals.includes(people.sam.address)
        ? { ...message, accounts: [...new Set([...message.accounts, samAccount])].sort() }
        : message,
    ),
  };
}

describe.skipIf(skip !== undefined)(
  `fault suite: backfill of a newly synced address${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    let suite: FaultSuite;
    let loaded: LoadedCorpus;
    let samTags: string[];

    beforeAll(async () => {
      suite = await FaultSuite.open();
      ({ loaded } = await suite.sharedBaseCorpus(generateCorpus));
      samTags = loaded.corpus.messages
        .filter((m) => m.externals.includes(people.sam.address))
        .map((m) => m.tag);
    }, 240_000);
    afterAll(async () => {
      await suite?.close();
    });

    /** A firm in sync with the corpus while Sam's email sync is off. */
    async function syncedFirm(): Promise<FaultFirm> {
      const firm = await suite.createFirm();
      const outcome = await suite.runTrial(firm, loaded);
      if (!outcome.synced) throw new Error(`the first sync did not complete: ${describeTrial(outcome)}`);
      return firm;
    }

    const samFiled = (digest: FaultDigest) =>
      samTags.filter((tag) => digest.filed[samAccount]?.[tag] !== undefined).length;

    it("T7 Y5 R8: turning email sync on, then killing every process before the backfill runs, and starting again files the address's history", async () => {
      const started = Date.now();
      expect(samTags.length, "the corpus has mail with Sam").toBeGreaterThan(0);
      const toggle = (firm: FaultFirm) => ({ linkId: firm.samLinkId, emailSync: true });

      // The yardstick: the same toggle, no kill.
      const referenceFirm = await syncedFirm();
      const before = await suite.digest(referenceFirm, loaded);
      const referenceRun = await suite.runTrial(referenceFirm, loaded, { toggle: toggle(referenceFirm) });
      expect(referenceRun.synced, describeTrial(referenceRun)).toBe(true);
      const reference = await suite.digest(referenceFirm, loaded);
      await referenceFirm.dispose();
      expect(samFiled(before), "nothing of Sam's is filed while sync is off").toBe(0);
      const truth = compareDigests(expectedDigest(withSamSynced(loaded.corpus), autoSaving), reference, {
        parts: ["filed", "attachments"],
      });
      expect(truth.details, "the run without a kill files what the answer key says").toEqual([]);

      const totals = emptyTotals();
      const failures: string[] = [];
      const kills: Point[] = scale(
        [{ kind: "enqueued", n: 1 }],
        [
          // The toggle's transaction committed its backfill job; no worker has taken a job yet.
          { kind: "enqueued", n: 1 },
          // The queue handed `backfill.addresses` over; the worker dies before running it.
          { kind: "backfill-start", n: 1 },
          // It fanned out; the first `backfill.mailbox` is handed over, and the worker dies.
          { kind: "backfill-start", n: 2 },
          { kind: "backfill-start", n: 4 },
        ],
      );
      for (const kill of kills) {
        const firm = await syncedFirm();
        const outcome = await suite.runTrial(firm, loaded, { toggle: toggle(firm), crashes: [kill] });
        const digest = await suite.digest(firm, loaded);
        const diff = compareDigests(reference, digest);
        addTrial(totals, diff, outcome.hung);
        if (outcome.crashes !== 1) failures.push(`${kill.kind}:${kill.n}: the worker was not killed there`);
        if (outcome.hung || diff.details.length > 0 || samFiled(digest) !== samFiled(reference))
          failures.push(
            `${kill.kind}:${kill.n}: Sam's messages filed ${samFiled(digest)}/${samFiled(reference)}; ${describeTrial(outcome)}\n  ${diff.details.join("\n  ")}`,
          );
        await firm.dispose();
      }
      publish(
        summaryLine(
          "T7 Y5 R8 kill -9 before the backfill of a newly synced address ran",
          totals,
          Date.now() - started,
          `history=${samFiled(reference)} messages`,
        ),
      );
      expect(failures, failures.join("\n")).toEqual([]);
    }, 900_000);
  },
);
