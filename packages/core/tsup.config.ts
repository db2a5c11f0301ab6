import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/ports/index.ts", "src/internal.ts"],
  format: ["esm", "cjs"],
  // Types of other clientmail packages come from their built declarations (the build runs in
  // dependency order), not from their sources again: half the time of a declaration build.
  dts: { compilerOptions: { customConditions: [] } },
  clean: true,
  sourcemap: true,
  target: "node20",
});
