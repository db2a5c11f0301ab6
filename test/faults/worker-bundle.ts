/**
 * Builds the fault suite's worker (`worker.ts`) into one JavaScript file, once per change of the
 * sources: started from the bundle, a worker is up in a fraction of a second instead of the
 * seconds `tsx` needs to compile the workspace from source — which matters when a run kills and
 * restarts workers a hundred times.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, rename, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";

const root = join(import.meta.dirname, "..", "..");
const sourceRoots = ["packages", "test/faults"];

async function sourceFiles(dir: string, out: string[]): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "dist" || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await sourceFiles(path, out);
    else if (entry.name.endsWith(".ts") || entry.name === "package.json") out.push(path);
  }
}

/** A key that changes whenever a source file the worker may include changes. */
async function sourcesKey(): Promise<string> {
  const files: string[] = [];
  for (const dir of sourceRoots) await sourceFiles(join(root, dir), files);
  const hash = createHash("sha256");
  for (const file of files.sort()) {
    const info = await stat(file);
    hash.update(`${file}\u0000${info.size}\u0000${info.mtimeMs}\n`);
  }
  return hash.digest("hex").slice(0, 16);
}

/**
 * The path of an up-to-date bundle of a worker of the suite (`worker.ts`, or another entry of
 * `test/faults/`), building it when needed. Safe to call from parallel test files.
 */
export async function workerBundle(entry = "worker"): Promise<string> {
  const dir = join(tmpdir(), "clientmail-fault-worker");
  await mkdir(dir, { recursive: true });
  const bundle = join(dir, `${entry}-${await sourcesKey()}.mjs`);
  if (existsSync(bundle)) return bundle;
  const partial = `${bundle}.${process.pid}.tmp`;
  await build({
    entryPoints: [join(root, `test/faults/${entry}.ts`)],
    outfile: partial,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["@clientmail/source"],
    external: ["pg-native"],
    logLevel: "error",
    // CommonJS dependencies inside an ES module bundle still call require().
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
  });
  await rename(partial, bundle);
  return bundle;
}
