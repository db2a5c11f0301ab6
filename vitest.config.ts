import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["@clientmail/source"] },
  ssr: { resolve: { conditions: ["@clientmail/source"] } },
  test: {
    include: ["packages/**/*.test.ts", "test/**/*.test.ts", "examples/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    globalSetup: ["./test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
