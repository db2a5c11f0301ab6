#!/usr/bin/env node
// Writes docs/rules.md: every product rule with its text and the tests that prove it.
//
// Rules come from SPEC.md (`/work/shared/SPEC.md`, or the path in CLIENTMAIL_SPEC); without it,
// the rule list already in docs/rules.md is kept. Tests are found by title: a test proves a rule
// when its title starts with the rule's ID (`it("F3: …")`, several IDs allowed: `it("H4, H5: …")`,
// `it("T12/H1: …")`), or names it again after a semicolon (`…; T7: sync on requests a backfill`).
// Only `*.test.ts` files under packages/, test/ and examples/ are read (node_modules skipped).
// Rules with no test are listed under "Not yet proven"; a reason written there by hand is kept.
// The output is sorted and formatted as Prettier would, so a rerun changes nothing.
//
// Usage: node scripts/rules-index.mjs   (or `pnpm docs:rules`)
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const specPath = process.env.CLIENTMAIL_SPEC ?? "/work/shared/SPEC.md";
const outputPath = join(root, "docs", "rules.md");
const testRoots = ["packages", "test", "examples"];
const ruleIdPattern = /^[A-Z]\d+$/;

/** `- **F3** text` or `- **T2 login** grants …` under `## F — …` headings. */
function parseRules(markdown) {
  const sections = [];
  let section;
  for (const line of markdown.split(/\r?\n/)) {
    const heading = /^## (.+)$/.exec(line);
    if (heading) {
      section = /^[A-Z] — /.test(heading[1]) ? { title: heading[1].trim(), rules: [] } : undefined;
      if (section) sections.push(section);
      continue;
    }
    const rule = /^- \*\*([A-Z]\d+)((?: [^*]+)?)\*\*\s*(.*)$/.exec(line);
    if (!rule || !section) continue;
    const label = rule[2].trim();
    // Prettier writes emphasis as `_x_`; do the same so the output is already formatted.
    const rest = rule[3].trim();
    const text = (label && rest && !/^[:;,.]/.test(rest) ? `${label} ${rest}` : `${label}${rest}`).replace(
      /(^|[^*\w])\*([^*\s][^*]*?)\*(?!\*)/g,
      "$1_$2_",
    );
    section.rules.push({ id: rule[1], text });
  }
  return sections;
}

/** Reasons already written by hand in the "Not yet proven" table of docs/rules.md. */
function parseReasons(markdown) {
  const reasons = new Map();
  const start = markdown.indexOf("## Not yet proven");
  if (start < 0) return reasons;
  for (const line of markdown.slice(start).split(/\r?\n/)) {
    const row = /^\|\s*([A-Z]\d+)\s*\|(.*)\|\s*$/.exec(line);
    if (row && row[2].trim() !== "") reasons.set(row[1], row[2].trim());
  }
  return reasons;
}

function testFiles(dir) {
  const found = [];
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "dist" || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...testFiles(path));
    else if (entry.isFile() && entry.name.endsWith(".test.ts")) found.push(path);
  }
  return found;
}

function unescapeLiteral(body) {
  return body.replace(/\\(.)/g, (_, char) => ({ n: " ", t: " " })[char] ?? char);
}

/** Titles of `it(…)` calls (also `it.skip(…)`, `it.only(…)`, …) given as a string or template literal. */
function testTitles(source) {
  const titles = [];
  const call =
    /\bit(?:\.[A-Za-z]+)*\(\s*(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'|`((?:[^`\\]|\\.)*)`)/g;
  for (const match of source.matchAll(call)) {
    const body = match[1] ?? match[2] ?? match[3];
    titles.push(unescapeLiteral(body).replace(/\s+/g, " ").trim());
  }
  return titles;
}

/** The rule IDs a title cites: its leading ID list, and any `; X9:` segment after it. */
function citedIds(title) {
  const ids = [];
  for (const segment of title.split(/;\s*/)) {
    const prefix = /^([A-Z]\d+(?:\s*(?:[,/&]|and)?\s*[A-Z]\d+)*)\s*:/.exec(segment);
    if (!prefix) continue;
    for (const id of prefix[1].match(/[A-Z]\d+/g)) if (ruleIdPattern.test(id)) ids.push(id);
  }
  return [...new Set(ids)];
}

function compareIds(a, b) {
  return a[0] === b[0] ? Number(a.slice(1)) - Number(b.slice(1)) : a < b ? -1 : 1;
}

function compareText(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Escapes what Markdown would otherwise read as markup in a test title. */
function escapeMarkdown(text) {
  return text.replace(/[\\`*_[\]<>|]/g, (char) => `\\${char}`);
}

const previous = existsSync(outputPath) ? readFileSync(outputPath, "utf8") : "";
const fromSpec = existsSync(specPath);
const sections = parseRules(fromSpec ? readFileSync(specPath, "utf8") : previous);
if (sections.length === 0) {
  console.error(
    `rules-index: no rules found (read ${fromSpec ? specPath : relative(root, outputPath)}); nothing written.`,
  );
  process.exit(1);
}
const known = new Set(sections.flatMap((s) => s.rules.map((r) => r.id)));
const reasons = parseReasons(previous);

const proofs = new Map();
const unknown = new Map();
for (const testRoot of testRoots) {
  for (const file of testFiles(join(root, testRoot))) {
    const path = relative(root, file).split(sep).join("/");
    for (const title of testTitles(readFileSync(file, "utf8"))) {
      for (const id of citedIds(title)) {
        const target = known.has(id) ? proofs : unknown;
        if (!target.has(id)) target.set(id, new Set());
        target.get(id).add(`${path}\u0000${title}`);
      }
    }
  }
}

function proofLines(entries) {
  return [...entries].sort(compareText).map((entry) => {
    const [path, title] = entry.split("\u0000");
    return `  - ${path}: ${escapeMarkdown(title)}`;
  });
}

const lines = [
  "# Rules and the tests that prove them",
  "",
  "Generated by `pnpm docs:rules` (`scripts/rules-index.mjs`) from the rule list in SPEC.md and the",
  'titles of the tests that cite a rule ID (`it("F3: …")`). Do not edit by hand, except the reasons',
  "in the last table, which a rerun keeps. Decisions where a rule is silent are in",
  "[decisions.md](decisions.md).",
  "",
];
const unproven = [];
for (const section of sections) {
  lines.push(`## ${section.title}`, "");
  for (const rule of [...section.rules].sort((a, b) => compareIds(a.id, b.id))) {
    lines.push(`- **${rule.id}** ${rule.text}`);
    const tests = proofs.get(rule.id);
    if (tests) lines.push(...proofLines(tests));
    else unproven.push(rule.id);
  }
  lines.push("");
}
lines.push("## Not yet proven", "");
if (unproven.length === 0) lines.push("Every rule has at least one test.", "");
else {
  const rows = unproven.map((id) => [id, reasons.get(id) ?? ""]);
  const widths = [0, 1].map((column) =>
    Math.max(3, ["rule", "reason"][column].length, ...rows.map((row) => row[column].length)),
  );
  const row = (cells) => `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(" | ")} |`;
  lines.push(row(["rule", "reason"]), row(widths.map((width) => "-".repeat(width))), ...rows.map(row), "");
}
if (unknown.size > 0) {
  lines.push("## Tests citing an unknown rule ID", "");
  for (const id of [...unknown.keys()].sort(compareIds)) {
    lines.push(`- **${id}**`, ...proofLines(unknown.get(id)));
  }
  lines.push("");
}

writeFileSync(outputPath, lines.join("\n").replace(/\n+$/, "\n"));
const proven = known.size - unproven.length;
console.log(
  `rules-index: ${proven}/${known.size} rules proven by tests, ${unproven.length} not yet proven` +
    `${fromSpec ? "" : " (rule list kept from docs/rules.md: SPEC.md not found)"}; wrote ${relative(root, outputPath)}`,
);
