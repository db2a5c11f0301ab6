import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The engine's internals used by clientmail's own packages and tests (not the public API).
const internal = fileURLToPath(new URL("./packages/core/src/internal.ts", import.meta.url));

export default defineConfig({
  resolve: { conditions: ["@clientmail/source"], alias: { "@clientmail/core/internal": internal } },
  ssr: { resolve: { conditions: ["@clientmail/source"] } },
  test: {
    include: ["packages/**/*.test.ts", "test/**/*.test.ts", "examples/**/*.test.ts"],
    // The fault suite runs after the rest, one file at a time (scripts/test.mjs, vitest.faults.config.ts).
    exclude: ["**/node_modules/**", "**/dist/**", "test/faults/**"],
    globalSetup: ["./test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
