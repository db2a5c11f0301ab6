import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["@clientmail/source"] },
  ssr: { resolve: { conditions: ["@clientmail/source"] } },
  test: {
    include: ["packages/**/*.test.ts", "test/**/*.test.ts", "examples/**/*.test.ts"],
    // The fault suite runs after the rest, one file at a time (scripts/test.mjs, vitest.faults.config.ts).
    exclude: ["**/node_modules/**", "**/dist/**", "test/faults/**"],
    globalSetup: ["./test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Vitest's default (one fork fewer than the cores) leaves a 2-core machine one fork; the tests
    // wait on PostgreSQL, Dovecot and timers more than they compute, and two forks there took the
    // suite from 442 s to 269 s with every test passing.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
