/**
 * R3: a server that goes silent (a half-open connection: no FIN, no data) or trickles a byte now
 * and then must not hold a sync pass: the pass ends as `transient` within the configured deadline,
 * commits nothing partial, and the next pass, once the network behaves, completes — with the firm
 * ending exactly as a fault-free run.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTcpProxy, type TcpProxy } from "@clientmail/testkit";
import { generateCorpus } from "./corpus.js";
import { addTrial, compareDigests, emptyTotals, summaryLine, type FaultDigest } from "./digest.js";
import {
  deadlines,
  deadlineSettings,
  describeTrial,
  dovecotSkipReason,
  FaultSuite,
  publish,
  scale,
  type LoadedCorpus,
  type WorkerResult,
} from "./harness.js";
import type { PointKind } from "./worker-protocol.js";

const skip = dovecotSkipReason();

/** A pass must have ended by then: the pass deadline, one operation's deadline, and slack for a loaded machine. */
const passBoundMs = deadlines.passMs + deadlines.operationMs + 5_000;

interface Stall {
  name: string;
  apply(proxy: TcpProxy): void;
  /** Where in the pass the stall starts; undefined: before the pass (at connect). */
  at?: { kind: PointKind; n: number };
}

const blackhole: Stall = {
  name: "half-open mid-fetch",
  apply: (p) => p.blackhole(),
  at: { kind: "fetch", n: 3 },
};
const trickle: Stall = {
  name: "trickle mid-fetch",
  apply: (p) => p.trickle({ bytes: 1, everyMs: 500 }),
  at: { kind: "fetch", n: 3 },
};

describe.skipIf(skip !== undefined)(`fault suite: deadlines${skip ? ` (skipped: ${skip})` : ""}`, () => {
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

  async function stallCase(caseName: string, stalls: readonly Stall[]): Promise<void> {
    const started = Date.now();
    const totals = emptyTotals();
    const failures: string[] = [];
    for (const stall of stalls) {
      const proxy = await startTcpProxy(loaded.server);
      const firm = await suite.createFirm();
      try {
        if (!stall.at) stall.apply(proxy);
        let applied = !stall.at;
        const stalled: WorkerResult = await suite.startWorker(firm, loaded, {
          ...deadlineSettings(),
          target: proxy,
          mode: "once",
          timeoutMs: passBoundMs + 3_000,
          onLine: (line) => {
            if (!applied && line.t === "point" && line.kind === stall.at!.kind && line.n === stall.at!.n) {
              applied = true;
              stall.apply(proxy);
            }
          },
        }).done;
        // The worker syncs the three mailboxes at once, all through the proxy: the first pass of each
        // ends within the bound — as transient when the stall caught it (at least one), or complete
        // when it finished before the stall began.
        const first = ["ann", "bob", "support"].map((label) =>
          stalled.passes.find((p) => p.mailbox === label),
        );
        const transient = (p: (typeof first)[number]) => p?.outcome === "error" && p.code === "transient";
        const late = first.filter((p) => !p || !(transient(p) || p.outcome === "ok") || p.ms > passBoundMs);
        const endedInTime = stalled.exit !== "hung" && late.length === 0 && first.some(transient);
        const pass = late.find((p) => p !== undefined) ?? first.find(transient) ?? first.find(Boolean);
        proxy.pass();
        const outcome = await suite.runTrial(firm, loaded, { ...deadlineSettings(), target: proxy });
        const diff = compareDigests(baseline, await suite.digest(firm, loaded));
        const hung = !endedInTime || outcome.hung;
        addTrial(totals, diff, hung);
        if (!applied) failures.push(`${stall.name}: the stall never started (the pass ended first)`);
        else if (hung || diff.details.length > 0)
          failures.push(
            `${stall.name}: stalled pass ${stalled.exit}${stalled.exit === "hung" && stalled.closing ? " while closing the provider after the pass ended (R3: close has a deadline too)" : ""}, ${pass ? `${pass.outcome}${pass.code ? `(${pass.code})` : ""} after ${(pass.ms / 1000).toFixed(1)} s` : "no pass reported"} (bound ${(passBoundMs / 1000).toFixed(0)} s); next: ${describeTrial(outcome)}\n  ${diff.details.slice(0, 8).join("\n  ")}`,
          );
      } finally {
        await proxy.close();
        await firm.dispose();
      }
    }
    publish(
      summaryLine(
        caseName,
        totals,
        Date.now() - started,
        `deadline=${deadlines.operationMs}ms/op ${deadlines.passMs}ms/pass`,
      ),
    );
    expect(failures, failures.join("\n")).toEqual([]);
  }

  it("R3: a half-open connection (no FIN, no data) ends the pass as transient within the deadline, and the next pass completes", async () => {
    await stallCase(
      "R3 half-open connection",
      scale(
        [blackhole],
        [
          { name: "half-open at connect", apply: (p) => p.blackhole() },
          { name: "half-open after the first page", apply: (p) => p.blackhole(), at: { kind: "page", n: 1 } },
          blackhole,
        ],
      ),
    );
  }, 300_000);

  it("R3: a server trickling a byte every half second ends the pass as transient within the deadline, and the next pass completes", async () => {
    await stallCase(
      "R3 trickling server",
      scale(
        [trickle],
        [
          { name: "trickle at connect", apply: (p) => p.trickle({ bytes: 1, everyMs: 500 }) },
          trickle,
          {
            name: "trickle of 64 bytes every 200 ms mid-fetch",
            apply: (p) => p.trickle({ bytes: 64, everyMs: 200 }),
            at: { kind: "fetch", n: 10 },
          },
        ],
      ),
    );
  }, 300_000);
});
