import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node20",
  // migrate() finds the SQL files through import.meta.url (shimmed in the CJS build); the package
  // ships them inside dist.
  shims: true,
  onSuccess: "mkdir -p dist/migrations && cp migrations/*.sql dist/migrations/",
});
