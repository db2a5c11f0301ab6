/**
 * Store filing throughput on a real PostgreSQL: files 20,000 realistic messages (≈5 KB of text
 * and HTML body each, one sighting and one filing each) in batches through the Postgres store's
 * `fileMessages`, and writes the same rows with a plain `COPY` in the same run, in rounds that
 * alternate the two (so both see the same machine when other work comes and goes), and prints
 * both rates and their ratio. Targets: ≥ 0.7 of COPY and ≥ 5,000 filed msgs/s.
 *
 * The server is started here with durable commits (fsync on), unless
 * CLIENTMAIL_TEST_DATABASE_URL names one.
 *
 *   pnpm bench:store
 *   BENCH_MESSAGES=50000 BENCH_BATCH=1000 BENCH_ROUNDS=10 pnpm bench:store
 */
// Relative imports: the workspace root depends on @clientmail/core only.
import { availableParallelism, loadavg } from "node:os";
import { runFilingBenchmark } from "../packages/storage-adapters/postgres/test/filing-benchmark.js";
import { start } from "../test/servers/postgres.js";

const messages = Number(process.env.BENCH_MESSAGES ?? 20_000);
const batchSize = Number(process.env.BENCH_BATCH ?? 500);
const bodyBytes = 5_000;
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);

async function main(): Promise<void> {
  const server = await start({ durable: true });
  try {
    const result = await runFilingBenchmark({
      databaseUrl: server.env.CLIENTMAIL_TEST_DATABASE_URL,
      messages,
      batchSize,
      bodyBytes,
      rounds,
    });
    const rate = (n: number) => Math.round(n).toLocaleString("en-US");
    console.log(
      `messages: ${messages}, batch: ${batchSize}, body: ~${bodyBytes} bytes, ${result.rounds} alternating rounds`,
    );
    console.log(`fileMessages: ${rate(result.filedPerSecond)} msgs/s (${result.filedSeconds.toFixed(2)} s)`);
    console.log(`plain COPY:   ${rate(result.copyPerSecond)} rows/s (${result.copySeconds.toFixed(2)} s)`);
    console.log(
      `ratio:        ${result.ratio.toFixed(2)} of COPY (target >= 0.70; median of the rounds ${result.medianRoundRatio.toFixed(2)}), ${result.filedPerSecond >= 5_000 ? "meets" : "misses"} 5,000 msgs/s`,
    );
    console.log(
      `load:         ${loadavg()
        .map((l) => l.toFixed(2))
        .join(", ")} on ${availableParallelism()} cores`,
    );
  } finally {
    await server.stop();
  }
}

await main();
