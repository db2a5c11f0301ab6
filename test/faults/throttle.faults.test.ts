/**
 * R6 Y7: rate limits are not failures. A storm of 429s (Gmail RESOURCE_EXHAUSTED, Graph
 * TooManyRequests with Retry-After) or Gmail's daily limit in the middle of a backfill, on the
 * testkit's fakes: the mailbox shows `throttled` (with the time it waits until) while it waits,
 * is never stopped however long the storm lasts, and completes afterwards exactly as a run
 * without the storm. The engine is allowed only 3 consecutive failures, so throttling counted as
 * failure shows at once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphFaults } from "@clientmail/testkit";
import { generateCorpus, type Corpus } from "./corpus.js";
import { addTrial, compareDigests, emptyTotals, summaryLine, type FaultDigest } from "./digest.js";
import { FaultSuite, publish } from "./harness.js";
import { gmailBackend, graphBackend, runHttpFirm, type HttpBackend } from "./http-harness.js";

const corpus: Corpus = generateCorpus({
  seed: 6,
  threads: 14,
  large: 1,
  largeBytes: [200_000, 300_000],
  prefix: "cmr",
});

describe("fault suite: rate-limit storms on the Gmail and Graph fakes", () => {
  let suite: FaultSuite;
  const baselines = new Map<string, FaultDigest>();

  beforeAll(async () => {
    suite = await FaultSuite.open({ imap: false });
    for (const make of [gmailBackend, graphBackend]) {
      const backend = make();
      backend.load(corpus);
      const run = await runHttpFirm(suite, backend);
      if (!run.synced) throw new Error(`the ${backend.kind} run without a storm did not complete`);
      baselines.set(backend.kind, await run.digest());
      await run.firm.dispose();
    }
  }, 180_000);
  afterAll(async () => {
    await suite?.close();
  });

  async function stormCase(name: string, backend: HttpBackend, startStorm: () => void): Promise<void> {
    const started = Date.now();
    backend.load(corpus);
    // The storm starts in the middle of the backfill, after a few requests went through.
    let stormed = false;
    backend.onRequest = (n) => {
      if (n === 6 && !stormed) {
        stormed = true;
        startStorm();
      }
    };
    const run = await runHttpFirm(suite, backend, { maxConsecutiveFailures: 3 });
    const digest = await run.digest();
    const diff = compareDigests(baselines.get(backend.kind)!, digest);
    const totals = emptyTotals();
    addTrial(totals, diff, !run.synced);
    const all = Object.values(run.statuses).flat();
    const waitsNotThrottled = run.waits.filter(
      (w) => w.status !== "throttled" || !w.until || w.until <= w.at,
    );
    publish(
      summaryLine(
        name,
        totals,
        Date.now() - started,
        `throttled-states=${all.filter((s) => s === "throttled").length} stopped=${run.stopped} waits=${run.waits.length} waits-not-throttled=${waitsNotThrottled.length}`,
      ),
    );
    await run.firm.dispose();
    const failures = [
      ...(stormed ? [] : ["the storm never started: the case tested nothing"]),
      ...(all.includes("stopped") ? [`the mailbox was stopped (states: ${all.join(" > ")})`] : []),
      ...(all.includes("throttled") ? [] : ["the mailbox never showed throttled"]),
      ...waitsNotThrottled.map(
        (w) =>
          `${w.mailbox} waited ${w.ms} ms while ${w.status}${w.lastError ? ` after ${w.lastError}` : ""}, not throttled until a time to come`,
      ),
      ...diff.details,
      ...(run.synced ? [] : ["the mailboxes did not all complete a pass"]),
    ];
    expect(failures, failures.join("\n")).toEqual([]);
    expect(Object.values(digest.states)).toEqual(["live", "live", "live"]);
  }

  it("R6: a storm of Gmail 429 RESOURCE_EXHAUSTED mid-backfill shows throttled, never stops the mailbox, and completes after", async () => {
    const backend = gmailBackend();
    // Long enough that no call's own retries can absorb it: a batch request counts each of its
    // parts, so a storm of a hundred-odd failures could be used up inside one call and never reach
    // the engine as a rate limit.
    await stormCase("R6 Gmail 429 storm", backend, () =>
      backend.fake.failNext("*", 1_000, "resourceExhausted"),
    );
  }, 120_000);

  it("R6: Gmail's daily limit mid-backfill is waited out as throttled until the quota resets, never a stop", async () => {
    const backend = gmailBackend();
    await stormCase("R6 Gmail daily limit", backend, () =>
      backend.fake.failNext("*", 30, "dailyLimitExceeded"),
    );
  }, 120_000);

  it("R6: a storm of Graph 429 TooManyRequests with Retry-After mid-backfill shows throttled, never stops the mailbox, and completes after", async () => {
    const backend = graphBackend();
    await stormCase("R6 Graph 429 storm", backend, () =>
      backend.fake.failNext(120, "any", graphFaults.tooManyRequests(30)),
    );
  }, 120_000);
});
