/**
 * F1 F7 T7: email sync turned off for an address while a backfill runs. The worker is paused at a
 * page boundary with the firm's data standing still; the toggle commits; the worker resumes. From
 * then on nothing that involves only that address may be stored (what was committed before may
 * stay), and everything else is filed as in a fault-free run.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCorpus, people } from "./corpus.js";
import {
  addTrial,
  compareDigests,
  emptyTotals,
  storedNeedles,
  summaryLine,
  withoutMessages,
  type FaultDigest,
} from "./digest.js";
import {
  describeTrial,
  dovecotSkipReason,
  FaultSuite,
  publish,
  scale,
  type LoadedCorpus,
} from "./harness.js";

const skip = dovecotSkipReason();

describe.skipIf(skip !== undefined)(
  `fault suite: toggles mid-pass${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
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

    it("F1 F7: after email sync is turned off for an address mid-backfill, nothing involving only that address is stored; the rest is filed", async () => {
      const started = Date.now();
      const totals = emptyTotals();
      const failures: string[] = [];
      const onlyPetra = loaded.corpus.messages
        .filter((m) => m.externals.length === 1 && m.externals[0] === people.petra.address)
        .map((m) => m.tag);
      let storedAfterToggle = 0;
      const midway: number[] = [];
      for (const atPage of scale([3, 6, 9], [2, 3, 5, 8, 12])) {
        const firm = await suite.createFirm();
        let before: Set<string> | undefined;
        let toggled: Promise<void> | undefined;
        const worker = suite.startWorker(firm, loaded, {
          pause: { kind: "page", n: atPage },
          onLine: (line) => {
            if (line.t !== "paused") return;
            toggled = (async () => {
              before = await storedNeedles(firm.pool, firm.firmId, onlyPetra);
              await firm.cm.updateLink(firm.firmId, firm.petraLinkId, { emailSync: false });
            })().finally(() => worker.resume());
          },
        });
        const first = await worker.done;
        await toggled;
        const outcome =
          first.exit === "synced"
            ? { synced: true, hung: false, runs: [first], crashes: 0, ms: first.ms }
            : await suite.runTrial(firm, loaded);
        const after = await storedNeedles(firm.pool, firm.firmId, onlyPetra);
        const late = [...after].filter((tag) => !before?.has(tag)).sort();
        storedAfterToggle += late.length;
        // Petra's own messages are judged by what was stored after the toggle; the rest as usual.
        const petra = new Set(onlyPetra);
        const diff = compareDigests(
          withoutMessages(baseline, petra),
          withoutMessages(await suite.digest(firm, loaded), petra),
          { ignoreAccounts: new Set(["Acme"]) },
        );
        diff.extra += late.length;
        addTrial(totals, diff, !outcome.synced);
        if (!before) failures.push(`page ${atPage}: the worker never paused`);
        // Which pause point falls mid-way through Petra's mail depends on how the mailboxes'
        // passes interleave (the engine lists ahead); every point is checked, and at least one
        // must have caught her history half filed, or the case tested nothing.
        else if (before.size > 0 && before.size < onlyPetra.length) midway.push(atPage);
        if (late.length > 0 || diff.details.length > 0 || !outcome.synced)
          failures.push(
            `page ${atPage}: stored after the toggle: ${late.join(", ") || "none"}; ${describeTrial(outcome)}\n  ${diff.details.slice(0, 8).join("\n  ")}`,
          );
        await firm.dispose();
      }
      publish(
        summaryLine(
          "F7 email sync turned off mid-backfill",
          totals,
          Date.now() - started,
          `stored-after-toggle=${storedAfterToggle} paused-midway-at-pages=${midway.join(",") || "none"}`,
        ),
      );
      if (midway.length === 0)
        failures.push("no pause point caught Petra's history half filed: the case tested nothing");
      expect(failures, failures.join("\n")).toEqual([]);
    }, 600_000);
  },
);
