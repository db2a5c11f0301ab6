#!/usr/bin/env node
/**
 * Docs that cannot drift: every ```ts / ```js code block in README.md, docs/*.md and the
 * packages' README.md files is
 * type-checked against the workspace packages (their sources, through the `@clientmail/source`
 * condition, with the repository's strict settings), so an API rename or a wrong signature in a
 * guide fails CI.
 *
 * Each block is its own module. Two markers, an HTML comment on the line just before a block's
 * opening fence, change that:
 *
 * - `<!-- docs-check: continues -->` — the block goes on from the block before it in the same
 *   file (a guide that builds one program step by step): they are checked as one module, in order.
 * - `<!-- docs-check: fragment -->` — the block is an excerpt that cannot compile on its own (a
 *   signature, part of an object). It is not checked; the script prints how many opted out, and
 *   where, so the count stays visible.
 *
 * Usage: `node scripts/check-docs.mjs`. Exits non-zero with each error placed at its line in the
 * Markdown file.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const outDir = join(root, ".docs-check");
const languages = new Map([
  ["ts", "ts"],
  ["typescript", "ts"],
  ["js", "js"],
  ["javascript", "js"],
]);
const marker = /^<!--\s*docs-check:\s*(continues|fragment)\s*-->\s*$/;

/** README.md, docs/*.md and every package's README.md (what the registry shows). */
function documents() {
  const docs = join(root, "docs");
  const packageReadmes = [];
  for (const group of ["packages", "packages/providers", "packages/storage-adapters"]) {
    for (const name of readdirSync(join(root, group)).sort()) {
      const readme = join(root, group, name, "README.md");
      if (existsSync(readme)) packageReadmes.push(readme);
    }
  }
  return [
    join(root, "README.md"),
    ...readdirSync(docs)
      .filter((name) => name.endsWith(".md"))
      .sort()
      .map((name) => join(docs, name)),
    ...packageReadmes,
  ];
}

/** The code blocks of one Markdown file: language, first code line (1-based), text, marker. */
function blocksOf(path) {
  const lines = readFileSync(path, "utf8").split("\n");
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence, language] = open;
    let end = i + 1;
    while (end < lines.length && !lines[end].trimStart().startsWith(fence)) end++;
    const kind = languages.get(language.toLowerCase());
    if (kind) {
      const previous = lines
        .slice(0, i)
        .reverse()
        .find((line) => line.trim() !== "");
      const mark = previous === undefined ? undefined : marker.exec(previous.trim())?.[1];
      const code = lines
        .slice(i + 1, end)
        .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
        .join("\n");
      blocks.push({ kind, startLine: i + 2, code, mark });
    }
    i = end;
  }
  return blocks;
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

/** Generated file → the pieces it is made of, to map a diagnostic back to Markdown. */
const sources = new Map();
const fragments = [];
let checked = 0;
for (const doc of documents()) {
  const name = relative(root, doc);
  let module;
  for (const block of blocksOf(doc)) {
    if (block.mark === "fragment") {
      fragments.push(`${name}:${block.startLine - 1}`);
      continue;
    }
    checked++;
    if (block.mark === "continues" && module && module.kind === block.kind) {
      module.pieces.push(block);
      continue;
    }
    if (block.mark === "continues") {
      throw new Error(
        `${name}:${block.startLine - 1}: "continues" but no checked block of its language before it`,
      );
    }
    module = {
      kind: block.kind,
      file: `${name.replace(/[/.]/g, "_")}_${block.startLine}.${block.kind}`,
      pieces: [block],
      doc: name,
    };
    sources.set(module.file, module);
  }
}

for (const module of sources.values()) {
  let text = module.kind === "js" ? "// @ts-check\n" : "";
  let line = text.split("\n").length;
  module.map = [];
  for (const piece of module.pieces) {
    module.map.push({ from: line, to: line + piece.code.split("\n").length - 1, startLine: piece.startLine });
    text += `${piece.code}\n`;
    line += piece.code.split("\n").length;
  }
  // Every block is a module (top-level await, no globals shared between blocks).
  text += "export {};\n";
  writeFileSync(join(outDir, module.file), text);
}

writeFileSync(
  join(outDir, "tsconfig.json"),
  JSON.stringify(
    {
      extends: "../tsconfig.base.json",
      compilerOptions: { noEmit: true, allowJs: true, checkJs: true, sourceMap: false, declaration: false },
      files: [...sources.keys()],
    },
    null,
    2,
  ),
);

const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const result = spawnSync(process.execPath, [tsc, "-p", join(outDir, "tsconfig.json"), "--pretty", "false"], {
  cwd: root,
  encoding: "utf8",
});
const output = `${result.stdout}${result.stderr}`;
const errors = [];
for (const diagnostic of output.split(/\n(?=\S)/)) {
  const match = /^\.docs-check\/([^(]+)\((\d+),(\d+)\): (.*)$/s.exec(diagnostic.trim());
  if (!match) {
    if (diagnostic.trim()) errors.push(diagnostic.trim());
    continue;
  }
  const [, file, lineText, column, message] = match;
  const module = sources.get(file);
  const line = Number(lineText);
  const piece = module?.map.find((p) => line >= p.from && line <= p.to);
  errors.push(
    piece
      ? `${module.doc}:${piece.startLine + line - piece.from}:${column}: ${message.trim()}`
      : `${file}(${line},${column}): ${message.trim()}`,
  );
}

console.log(
  `[docs] ${checked} code blocks type-checked in ${sources.size} modules; ${fragments.length} opted out as fragments` +
    (fragments.length > 0 ? ` (${fragments.join(", ")})` : ""),
);
if (result.status !== 0 || errors.length > 0) {
  console.error(`[docs] ${errors.length} error(s):\n${errors.join("\n")}`);
  process.exitCode = 1;
} else {
  rmSync(outDir, { recursive: true, force: true });
  console.log("[docs] every checked block compiles against the workspace packages.");
}
if (!existsSync(tsc)) console.error("[docs] typescript is not installed: run pnpm install first");
