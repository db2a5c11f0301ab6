/**
 * R1 R8: kill -9 of the worker at random points of its whole life — before and after store
 * commits, in the middle of fetching and listing, after notifications, with jobs enqueued and
 * waiting, as the queue hands a job over, inside an attachment save after the document sink wrote
 * the file, after a job's handler finished but before the queue recorded it — then a restart, as
 * a supervisor would, until the firm is in sync (every mailbox passed, the queue idle). Whatever
 * the point, the firm must end exactly as a fault-free run: nothing lost, nothing doubled, nothing
 * in a wrong account, no mailbox wedged, no job dead-lettered.
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

  it("R1 R8: kill -9 of the worker at random points (commits, fetch, listing, notifications, jobs waiting, starting, saving, finishing) loses, doubles and misfiles nothing", async () => {
    const started = Date.now();
    const totals = emptyTotals();
    const failures: string[] = [];
    let kills = 0;
    const kinds = new Set<string>();
    for (let trial = 0; trial < crashTrials; trial++) {
      const plan = crashPlan(trial + 1, counts);
      const firm = await suite.createFirm();
      const outcome = await suite.runTrial(firm, loaded, { crashes: plan, timeoutMs: 90_000 });
      kills += outcome.crashes;
      for (const run of outcome.runs) if (run.crashedAt) kinds.add(run.crashedAt.kind);
      const diff = compareDigests(baseline, await suite.digest(firm, loaded));
      addTrial(totals, diff, outcome.hung);
      const wrong = diff.lost + diff.duplicated + diff.wrongAccount + diff.extra + diff.threadsDiffer;
      if (wrong > 0 || outcome.hung)
        failures.push(
          `trial ${trial + 1} plan=${plan.map((p) => `${p.kind}:${p.n}`).join(",")}: ${describeTrial(outcome)}\n  ${diff.details.slice(0, 8).join("\n  ")}`,
        );
      await firm.dispose();
    }
    publish(
      summaryLine(
        "R1 R8 kill -9 of the worker at random points",
        totals,
        Date.now() - started,
        `kills=${kills} points=${[...kinds].sort().join(",")}`,
      ),
    );
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

  /**
   * Kills the worker at the first, middle and last point of `kind` a fault-free run reaches (the
   * middle one only in the sample), restarts it until the firm is in sync, and compares `parts`.
   */
  async function targeted(
    name: string,
    kind: PointKind,
    parts: ReadonlyArray<"filed" | "attachments" | "notifications" | "threads">,
  ): Promise<void> {
    const started = Date.now();
    const totals = emptyTotals();
    const failures: string[] = [];
    const last = counts[kind];
    expect(last, `a fault-free run reaches ${kind}`).toBeGreaterThan(0);
    const middle = Math.max(1, Math.floor(last / 2));
    for (const planned of [...new Set(scale([middle], [1, middle, last]))]) {
      // The fault-free run's count of a point includes its retries (a job started twice counts
      // twice), so a run may pass it fewer times: a kill planned at the last one that never came
      // is tried again one earlier, so the case still kills near the end.
      for (let n = planned; ; n--) {
        const firm = await suite.createFirm();
        const outcome = await suite.runTrial(firm, loaded, { crashes: [{ kind, n }] });
        const diff = compareDigests(baseline, await suite.digest(firm, loaded), { parts });
        addTrial(totals, diff, outcome.hung);
        if (outcome.hung || diff.details.length > 0)
          failures.push(`${kind}:${n}: ${describeTrial(outcome)}\n  ${diff.details.join("\n  ")}`);
        await firm.dispose();
        if (outcome.crashes > 0) break;
        if (n <= middle || n <= planned - 2) {
          failures.push(`${kind}:${n}: the worker never got there`);
          break;
        }
      }
    }
    publish(summaryLine(name, totals, Date.now() - started));
    expect(failures, failures.join("\n")).toEqual([]);
  }

  it("R8: kill -9 inside an attachment save job, after the document sink wrote the file and before the job completed, neither loses nor doubles it", async () => {
    await targeted("R8 kill -9 after an attachment was saved", "attachment-save", ["attachments", "filed"]);
  }, 600_000);

  it("R8: kill -9 right after a page's transaction enqueued its attachment saves (jobs waiting) neither loses nor doubles one", async () => {
    await targeted("R8 kill -9 with attachment saves waiting", "save-enqueued", ["attachments", "filed"]);
  }, 600_000);

  it("R8: kill -9 after the queue handed an attachment save to the worker, before it ran, neither loses nor doubles one", async () => {
    await targeted("R8 kill -9 as an attachment save starts", "save-start", ["attachments", "filed"]);
  }, 600_000);

  it("R8 N1: kill -9 right after a notification was created (with its page) neither loses nor doubles one", async () => {
    await targeted("R8 kill -9 after a notification", "notify", ["notifications", "filed"]);
  }, 600_000);
});
