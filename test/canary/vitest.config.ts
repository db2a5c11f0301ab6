import { defineConfig } from "vitest/config";

/** Runs only the canary, with the same global set-up (real servers) as every run. */
export default defineConfig({
  resolve: { conditions: ["@clientmail/source"] },
  test: {
    include: ["test/canary/*.canary.ts"],
    globalSetup: ["./test/global-setup.ts"],
    hookTimeout: 120_000,
    pool: "forks",
  },
});
