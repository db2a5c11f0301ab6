/**
 * Baselines of the sync benchmark (issue 4, item 6), on the generated Dovecot mailbox:
 * (a) the floor — imapflow header fetch of all messages plus full fetch and parse of the client
 * ones — and (b) ingest everything — fetch and parse all messages. `bench/sync.bench.ts` imports
 * these to run them in the same process run as clientmail's own backfill.
 *
 * Standalone: `BENCH_MESSAGES=2000 tsx --conditions=@clientmail/source bench/sync-baselines.ts`
 */
import { pathToFileURL } from "node:url";
import {
  measureFloor,
  measureIngestEverything,
  startRssSampler,
  type BaselineResult,
} from "../packages/providers/imap/bench/baselines.js";
import { createSyncFixture, type SyncFixture } from "./sync-fixtures.js";

export { measureFloor, measureIngestEverything, startRssSampler };
export type { BaselineMailbox, BaselineResult } from "../packages/providers/imap/bench/baselines.js";

/** Both baselines on one fixture, floor first. */
export async function measureBaselines(
  fixture: SyncFixture,
): Promise<{ floor: BaselineResult; ingestEverything: BaselineResult }> {
  const mailbox = {
    server: fixture.server,
    user: fixture.user,
    folders: fixture.folders,
    clientMessageIds: fixture.clientMessageIds,
  };
  const floor = await measureFloor(mailbox);
  const ingestEverything = await measureIngestEverything(mailbox);
  return { floor, ingestEverything };
}

/** One line per result, for the console. */
export function formatResult(result: BaselineResult): string {
  return (
    `${result.name.padEnd(46)} ${result.messages} msgs (${result.parsed} parsed) in ${result.seconds.toFixed(2)} s` +
    ` = ${Math.round(result.msgsPerSecond)} msgs/s, peak RSS ${result.peakRssMiB} MiB` +
    (result.cpuSeconds === undefined ? "" : `, CPU ${result.cpuSeconds.toFixed(2)} s`)
  );
}

async function main(): Promise<void> {
  const fixture = await createSyncFixture();
  try {
    console.log(
      `mailbox: ${fixture.messageCount} messages, ${(fixture.totalBytes / 1024 / 1024).toFixed(0)} MiB, ` +
        `${fixture.clientMessageIds.size} client messages; generated and indexed in ${fixture.generationSeconds.toFixed(1)} s`,
    );
    const { floor, ingestEverything } = await measureBaselines(fixture);
    console.log(formatResult(floor));
    console.log(formatResult(ingestEverything));
    console.log(`ingest-everything / floor time: ${(ingestEverything.seconds / floor.seconds).toFixed(1)}x`);
  } finally {
    await fixture.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
