/**
 * R1 R8: kill -9 of the worker at random points — before and after store commits, after the
 * document sink wrote a file, after notifications, in the middle of fetching and listing — then a
 * restart, as a supervisor would, until the mailboxes are in sync. Whatever the point, the firm
 * must end exactly as a fault-free run: nothing lost, nothing doubled, nothing in a wrong account,
 * no mailbox wedged.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PointKind } from "./worker-protocol.js";
import { generateCorpus } from "./corpus.js";
import { addTrial, compareDigests, emptyTotals, summaryLine, type FaultDigest } from "./digest.js";
import {
  crashPlan,
  crashTrials,
  describeTrial,
  dovecotSkipReason,
  FaultSuite,
  publish,
  scale,
  type LoadedCorpus,
} from "./harness.js";

const skip = dovecotSkipReason();

describe.skipIf(skip !== undefined)(`fault suite: worker crashes${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let suite: FaultSuite;
  let loaded: LoadedCorpus;
  let baseline: FaultDigest;
  let counts: Record<PointKind, number>;
  beforeAll(async () => {
    suite = await FaultSuite.open();
    ({ loaded, baseline, counts } = await suite.sharedBaseCorpus(generateCorpus));
  }, 240_000);
  afterAll(async () => {
    await suite?.close();
  });

  it("R1 R8: kill -9 of the worker at random points (commits, attachment saves, notifications, fetch, listing) loses, doubles and misfiles nothing", async () => {
    const started = Date.now();
    const totals = emptyTotals();
    const failures: string[] = [];
    for (let trial = 0; trial < crashTrials; trial++) {
      const plan = crashPlan(trial + 1, counts);
      const firm = await suite.createFirm();
      const outcome = await suite.runTrial(firm, loaded, { crashes: plan, timeoutMs: 90_000 });
      const diff = compareDigests(baseline, await suite.digest(firm, loaded));
      addTrial(totals, diff, outcome.hung);
      const wrong = diff.lost + diff.duplicated + diff.wrongAccount + diff.extra + diff.threadsDiffer;
      if (wrong > 0 || outcome.hung)
        failures.push(
          `trial ${trial + 1} plan=${plan.map((p) => `${p.kind}:${p.n}`).join(",")}: ${describeTrial(outcome)}\n  ${diff.details.slice(0, 8).join("\n  ")}`,
        );
      await firm.documents.remove();
    }
    publish(summaryLine("R1 R8 kill -9 of the worker at random points", totals, Date.now() - started));
    expect(failures, failures.join("\n")).toEqual([]);
    expect(totals).toMatchObject({
      lost: 0,
      duplicated: 0,
      wrongAccount: 0,
      hung: 0,
      extra: 0,
      threadsDiffer: 0,
    });
  }, 1_800_000);

  it("R8: kill -9 right after the document sink saved an attachment neither loses nor doubles it", async () => {
    const started = Date.now();
    const totals = emptyTotals();
    const details: string[] = [];
    const middle = Math.max(1, Math.floor(counts["attachment-save"] / 2));
    const points = scale([middle], [1, middle, counts["attachment-save"]]);
    for (const n of [...new Set(points)]) {
      const firm = await suite.createFirm();
      const outcome = await suite.runTrial(firm, loaded, { crashes: [{ kind: "attachment-save", n }] });
      const diff = compareDigests(baseline, await suite.digest(firm, loaded), {
        parts: ["attachments", "filed"],
      });
      addTrial(totals, diff, outcome.hung);
      details.push(...diff.details.map((d) => `attachment-save:${n}: ${d}`));
      await firm.documents.remove();
    }
    publish(summaryLine("R8 kill -9 after an attachment was saved", totals, Date.now() - started));
    expect(details, details.join("\n")).toEqual([]);
    expect(totals.hung).toBe(0);
  }, 600_000);

  it("R8: kill -9 right after a notification was created neither loses nor doubles one", async () => {
    const started = Date.now();
    const totals = emptyTotals();
    const details: string[] = [];
    for (const n of [
      ...new Set(scale([1], [1, Math.max(1, Math.floor(counts.notify / 2)), counts.notify])),
    ]) {
      const firm = await suite.createFirm();
      const outcome = await suite.runTrial(firm, loaded, { crashes: [{ kind: "notify", n }] });
      const diff = compareDigests(baseline, await suite.digest(firm, loaded), {
        parts: ["notifications", "filed"],
      });
      addTrial(totals, diff, outcome.hung);
      details.push(...diff.details.map((d) => `notify:${n}: ${d}`));
      await firm.documents.remove();
    }
    publish(summaryLine("R8 kill -9 after a notification", totals, Date.now() - started));
    expect(details, details.join("\n")).toEqual([]);
    expect(totals.hung).toBe(0);
  }, 600_000);
});
