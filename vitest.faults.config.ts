/**
 * `pnpm test:faults`: the whole fault suite (`test/faults/`), on the same real servers as
 * `pnpm test` (the same global setup), one file at a time so that the timing-sensitive cases
 * (deadlines, outages) have the machine to themselves. `pnpm test` runs a CI-sized sample of the
 * same cases; `CLIENTMAIL_FAULT_TRIALS` chooses (`full`, the default here, or a number of kill -9
 * trials).
 */
import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

// `pnpm test` sets CLIENTMAIL_FAULT_SAMPLE for its sample; otherwise the full suite.
const trials = process.env.CLIENTMAIL_FAULT_SAMPLE ? "" : (process.env.CLIENTMAIL_FAULT_TRIALS ?? "full");

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ["test/faults/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    fileParallelism: false,
    testTimeout: 1_800_000,
    env: trials === "" ? {} : { CLIENTMAIL_FAULT_TRIALS: trials },
  },
});
