/**
 * Store filing throughput on a real PostgreSQL: files 20,000 realistic messages (≈5 KB of text
 * and HTML body each, one sighting and one filing each) in batches through the Postgres store's
 * `fileMessages`, then writes the same rows with a plain `COPY` in the same run, and prints both
 * rates and their ratio. Targets: ≥ 0.7 of COPY and ≥ 5,000 filed msgs/s.
 *
 * The server is started here with durable commits (fsync on), unless
 * CLIENTMAIL_TEST_DATABASE_URL names one.
 *
 *   pnpm bench:store
 *   BENCH_MESSAGES=50000 BENCH_BATCH=1000 pnpm bench:store
 */
// Relative imports: the workspace root depends on @clientmail/core only.
import { runFilingBenchmark } from "../packages/storage-adapters/postgres/test/filing-benchmark.js";
import { start } from "../test/servers/postgres.js";

const messages = Number(process.env.BENCH_MESSAGES ?? 20_000);
const batchSize = Number(process.env.BENCH_BATCH ?? 500);
const bodyBytes = 5_000;

async function main(): Promise<void> {
  const server = await start({ durable: true });
  try {
    const result = await runFilingBenchmark({
      databaseUrl: server.env.CLIENTMAIL_TEST_DATABASE_URL,
      messages,
      batchSize,
      bodyBytes,
    });
    const rate = (n: number) => Math.round(n).toLocaleString("en-US");
    console.log(`messages: ${messages}, batch: ${batchSize}, body: ~${bodyBytes} bytes`);
    console.log(`fileMessages: ${rate(result.filedPerSecond)} msgs/s (${result.filedSeconds.toFixed(2)} s)`);
    console.log(`plain COPY:   ${rate(result.copyPerSecond)} rows/s (${result.copySeconds.toFixed(2)} s)`);
    console.log(
      `ratio:        ${result.ratio.toFixed(2)} of COPY (target >= 0.70), ${result.filedPerSecond >= 5_000 ? "meets" : "misses"} 5,000 msgs/s`,
    );
  } finally {
    await server.stop();
  }
}

await main();
