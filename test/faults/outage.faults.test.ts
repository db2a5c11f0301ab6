/**
 * R1 Y7: the network and the server go away in the middle of a backfill — the connection is cut a
 * few MiB into the download and reconnects are refused for a while, or Dovecot itself is stopped
 * and started — and then come back. The firm must end exactly as a fault-free run: no client
 * message given up on because of the outage, no duplicate, no mailbox stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDovecot, startTcpProxy, type DovecotServer } from "@clientmail/testkit";
import { generateCorpus } from "./corpus.js";
import { addTrial, compareDigests, emptyTotals, summaryLine, type FaultDigest } from "./digest.js";
import {
  describeTrial,
  dovecotSkipReason,
  FaultSuite,
  publish,
  scale,
  type LoadedCorpus,
} from "./harness.js";

const skip = dovecotSkipReason();
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip !== undefined)(`fault suite: outages${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let suite: FaultSuite;
  let loaded: LoadedCorpus;
  let baseline: FaultDigest;
  // Restarting a server would break the other suites' connections: this file has its own.
  let server: DovecotServer;

  beforeAll(async () => {
    suite = await FaultSuite.open();
    // Digests compare by names and tags, so the shared fault-free run is the yardstick here too.
    ({ baseline } = await suite.sharedBaseCorpus(generateCorpus));
    server = await startDovecot();
    loaded = await suite.loadCorpus(generateCorpus(), server);
  }, 240_000);
  afterAll(async () => {
    await suite?.close();
    await server?.stop();
  });

  it("R1: a connection cut mid-fetch, with reconnects refused for a while, loses no client message once the network is back", async () => {
    const started = Date.now();
    const totals = emptyTotals();
    const failures: string[] = [];
    const refuseMs = 4_000;
    for (const cutAt of scale([3], [0.5, 2, 3.5, 5.5])) {
      const proxy = await startTcpProxy(loaded.server);
      const firm = await suite.createFirm();
      let fired = false;
      const outage = proxy.cutAfterServerBytes(cutAt * MiB).then(async () => {
        fired = true;
        proxy.setRefusing(true);
        await sleep(refuseMs);
        proxy.setRefusing(false);
      });
      const outcome = await suite.runTrial(firm, loaded, { target: proxy });
      proxy.setRefusing(false);
      const diff = compareDigests(baseline, await suite.digest(firm, loaded));
      addTrial(totals, diff, outcome.hung);
      if (!fired) failures.push(`cut at ${cutAt} MiB never fired: the case did not test anything`);
      else if (outcome.hung || diff.details.length > 0)
        failures.push(
          `cut at ${cutAt} MiB: ${describeTrial(outcome)}\n  ${diff.details.slice(0, 10).join("\n  ")}`,
        );
      await proxy.close();
      if (fired) await outage;
      await firm.dispose();
    }
    publish(
      summaryLine(
        "R1 outage mid-fetch (cut + refused reconnects)",
        totals,
        Date.now() - started,
        `refused=${refuseMs}ms`,
      ),
    );
    expect(failures, failures.join("\n")).toEqual([]);
  }, 900_000);

  it("R1 Y7: Dovecot stopped and started in the middle of a pass loses nothing and stops no mailbox", async () => {
    const started = Date.now();
    const totals = emptyTotals();
    const failures: string[] = [];
    for (const atFetch of scale([20], [5, 20, 50])) {
      const firm = await suite.createFirm();
      let restart: Promise<void> | undefined;
      const outcome = await suite.runTrial(firm, loaded, {
        onLine: (line) => {
          if (!restart && line.t === "point" && line.kind === "fetch" && line.n === atFetch)
            restart = server.restart();
        },
      });
      if (restart) await restart;
      const diff = compareDigests(baseline, await suite.digest(firm, loaded));
      addTrial(totals, diff, outcome.hung);
      if (!restart)
        failures.push(`restart at fetch ${atFetch} never happened: the case did not test anything`);
      else if (outcome.hung || diff.details.length > 0)
        failures.push(
          `restart at fetch ${atFetch}: ${describeTrial(outcome)}\n  ${diff.details.slice(0, 10).join("\n  ")}`,
        );
      await firm.dispose();
    }
    publish(summaryLine("R1 Y7 Dovecot restart mid-pass", totals, Date.now() - started));
    expect(failures, failures.join("\n")).toEqual([]);
  }, 900_000);
});
