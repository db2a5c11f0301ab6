import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["@clientmail/source"] },
  ssr: { resolve: { conditions: ["@clientmail/source"] } },
  test: {
    include: ["packages/**/*.test.ts", "test/**/*.test.ts", "examples/**/*.test.ts"],
    // The fault suite's sample is being moved onto the job-queue workers; until then it runs only
    // through `pnpm test:faults`.
    exclude: ["**/node_modules/**", "**/dist/**", "test/faults/**"],
    globalSetup: ["./test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
