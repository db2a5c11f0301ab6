/**
 * Builds the fault suite's worker (`worker.ts`), or another child-process entry, into one
 * JavaScript file, once per change of the sources: started from the bundle, a worker is up in a
 * fraction of a second instead of the seconds `tsx` needs to compile the workspace from source —
 * which matters when a run kills and restarts workers a hundred times — and its memory is that of
 * the code as it runs in production, without the TypeScript compiler's.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, rename, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { build } from "esbuild";

const root = join(import.meta.dirname, "..", "..");
const defaultEntry = "test/faults/worker.ts";

async function sourceFiles(dir: string, out: string[]): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "dist" || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await sourceFiles(path, out);
    else if (entry.name.endsWith(".ts") || entry.name === "package.json") out.push(path);
  }
}

/** A key that changes whenever a source file the worker may include changes. */
async function sourcesKey(entry: string): Promise<string> {
  const files: string[] = [];
  for (const dir of ["packages", dirname(entry)]) await sourceFiles(join(root, dir), files);
  // This file's build settings too.
  files.push(import.meta.filename);
  const hash = createHash("sha256");
  for (const file of files.sort()) {
    const info = await stat(file);
    hash.update(`${file}\u0000${info.size}\u0000${info.mtimeMs}\n`);
  }
  return hash.digest("hex").slice(0, 16);
}

/**
 * The path of an up-to-date bundle of `entry` (a path from the repository root; the fault
 * worker by default), building it when needed. Safe to call from parallel test files.
 */
export async function workerBundle(entry: string = defaultEntry): Promise<string> {
  const dir = join(tmpdir(), "clientmail-fault-worker");
  await mkdir(dir, { recursive: true });
  const name = basename(entry).replace(/\.ts$/, "");
  const bundle = join(dir, `${name}-${await sourcesKey(relative(root, join(root, entry)))}.mjs`);
  if (existsSync(bundle)) return bundle;
  const partial = `${bundle}.${process.pid}.tmp`;
  await build({
    entryPoints: [join(root, entry)],
    outfile: partial,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["@clientmail/source"],
    // Loaded lazily by their importers, if ever (cosmiconfig reads TypeScript config files with
    // `typescript`; graphile-worker's config search never asks it to): left out, as they stay out
    // of memory in an installed application. Bundled, the compiler's 9 MiB of source would be.
    external: ["pg-native", "esbuild", "typescript"],
    logLevel: "error",
    // CommonJS dependencies inside an ES module bundle still call require().
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
  });
  await rename(partial, bundle);
  return bundle;
}
