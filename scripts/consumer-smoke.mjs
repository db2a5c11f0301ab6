#!/usr/bin/env node
/**
 * The consumer smoke test: what a developer who installs clientmail from the registry gets.
 *
 * 1. builds every package (`pnpm build`; `--skip-build` reuses the `dist/` folders there are),
 * 2. packs every publishable package with `pnpm pack` (as `pnpm publish` would: `publishConfig`
 *    applied, `workspace:` ranges replaced),
 * 3. lints each tarball with `publint` and `@arethetypeswrong/cli`,
 * 4. installs the tarballs with npm in a fresh project outside the workspace (third-party
 *    dependencies from the registry, `--prefer-offline`), without vitest,
 * 5. loads `@clientmail/testkit` from CommonJS and ESM there (no vitest installed),
 * 6. type-checks the README's "Use" snippet and an import of every package with `skipLibCheck`
 *    off, under `moduleResolution` node16 and bundler,
 * 7. runs the snippet as ESM, as CommonJS and as TypeScript (tsc's node16 output) against a
 *    loopback Dovecot holding one client message: each run must exit 0 by itself within
 *    {@link snippetTimeoutMs} and print the message's subject (the filed thread).
 *
 * The snippet's contract with this script: it takes the mailbox's IMAP settings from the
 * `IMAP_HOST`, `IMAP_PORT`, `IMAP_SECURITY`, `IMAP_USER` and `IMAP_PASSWORD` environment
 * variables, connects the mailbox `ann@ledger.example`, and files mail from `Jo@Bakery.example`.
 *
 * Prints the time of every step. Exits non-zero on the first failure, with its cause.
 * Usage: `node scripts/consumer-smoke.mjs [--skip-build] [--keep]`.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const args = new Set(process.argv.slice(2));
const pnpm = ["-y", "pnpm@10.34.8"];
/** How long one run of the snippet may take before it counts as not exiting. */
const snippetTimeoutMs = 60_000;
const subject = `Year-end accounts ${randomBytes(3).toString("hex")}`;

const timings = [];
const started = performance.now();

async function step(name, action) {
  const begin = performance.now();
  process.stdout.write(`[smoke] ${name} …\n`);
  try {
    return await action();
  } finally {
    const seconds = (performance.now() - begin) / 1000;
    timings.push([name, seconds]);
    process.stdout.write(`[smoke] ${name}: ${seconds.toFixed(1)} s\n`);
  }
}

/** Runs a command; resolves with its output, rejects with the output's tail when it fails. */
function run(command, commandArgs, options = {}) {
  const { timeoutMs, quiet = true, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, { stdio: ["ignore", "pipe", "pipe"], ...spawnOptions });
    let output = "";
    const take = (chunk) => {
      output += chunk;
      if (!quiet) process.stdout.write(chunk);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    let timedOut = false;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, timeoutMs);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      if (code === 0) return resolve(output);
      const what = `${command} ${commandArgs.join(" ")}`;
      const why = timedOut ? `did not exit within ${timeoutMs} ms (killed)` : `exited with ${code ?? signal}`;
      reject(new Error(`${what} ${why}:\n${output.split("\n").slice(-40).join("\n")}`));
    });
  });
}

function publishablePackages() {
  const dirs = [];
  for (const group of ["packages", "packages/providers", "packages/storage-adapters"]) {
    for (const name of readdirSync(join(root, group))) {
      const dir = join(root, group, name);
      const manifestPath = join(dir, "package.json");
      if (!statSync(dir).isDirectory() || !existsSync(manifestPath)) continue;
      const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
      if (!manifest.private) dirs.push({ dir, name: manifest.name, version: manifest.version });
    }
  }
  return dirs;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function pool(items, limit, work) {
  const results = [];
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  });
  await Promise.all(lanes);
  return results;
}

/** The README's "Use" snippet: the first ```ts block under the "## Use" heading. */
function readmeSnippet() {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.split(/^## Use\s*$/m)[1];
  const block = section && /```ts\n([\s\S]*?)```/.exec(section.split(/^## /m)[0]);
  if (!block) throw new Error('README.md has no ```ts block under "## Use"');
  const code = block[1];
  if (!code.includes("IMAP_HOST")) {
    throw new Error(
      "The README's Use snippet must take its IMAP settings from IMAP_HOST, IMAP_PORT, IMAP_SECURITY, IMAP_USER and IMAP_PASSWORD " +
        "(the consumer smoke test points it at a loopback Dovecot).",
    );
  }
  return code;
}

/** Splits a module into its leading import declarations and the rest. */
function splitImports(code) {
  const imports = [];
  const body = code.replace(/^import\s[\s\S]*?from\s+"[^"]+";[^\n]*\n/gm, (statement) => {
    imports.push(statement);
    return "";
  });
  return { imports: imports.join(""), body };
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), "clientmail-consumer-"));
  const tarballs = join(work, "tarballs");
  const app = join(work, "app");
  let dovecot;
  try {
    if (!args.has("--skip-build")) {
      await step("build", () => run("npx", [...pnpm, "build"], { cwd: root }));
    }
    const packages = publishablePackages();
    const packed = await step(`pack ${packages.length} packages`, async () => {
      await run("npx", [...pnpm, "-r", "--filter", "./packages/**", "pack", "--pack-destination", tarballs], {
        cwd: root,
      });
      return packages.map(({ name, version }) => {
        const file = join(tarballs, `${name.replace(/^@/, "").replace("/", "-")}-${version}.tgz`);
        if (!existsSync(file)) throw new Error(`pnpm pack made no tarball for ${name} (${file})`);
        return { name, file };
      });
    });

    await step("publint and attw on every tarball", async () => {
      // In this process, so TypeScript loads once for all ten (the CLIs take one tarball a run).
      const { publint } = await import("publint");
      const { formatMessage } = await import("publint/utils");
      const attw = await import("@arethetypeswrong/core");
      const problems = [];
      for (const { name, file } of packed) {
        const data = readFileSync(file);
        const lint = await publint({ pack: { tarball: new Uint8Array(data).buffer }, strict: true });
        for (const message of lint.messages) {
          problems.push(`publint ${name}: ${formatMessage(message, lint.pkg) ?? message.code}`);
        }
        const check = await attw.checkPackage(attw.createPackageFromTarballData(new Uint8Array(data)));
        if (check.types === false) problems.push(`attw ${name}: the package ships no types`);
        for (const problem of check.problems ?? []) {
          const where = problem.entrypoint ? ` ${problem.entrypoint}` : "";
          const how = problem.resolutionKind ? ` (${problem.resolutionKind})` : "";
          problems.push(`attw ${name}:${where}${how} ${problem.kind}`);
        }
      }
      if (problems.length > 0) throw new Error(`the tarballs have problems:\n${problems.join("\n")}`);
      console.log(`[smoke] publint and attw: no problems in ${packed.length} tarballs`);
    });

    await step("npm install of the tarballs in a fresh project", async () => {
      const tarballOf = Object.fromEntries(packed.map(({ name, file }) => [name, `file:${file}`]));
      mkdirSync(app, { recursive: true });
      writeFileSync(
        join(app, "package.json"),
        JSON.stringify(
          {
            name: "clientmail-consumer",
            private: true,
            type: "module",
            dependencies: {
              ...tarballOf,
              "@types/node": "^20.19.0",
              "@types/pg": "^8.23.1",
              typescript: "~5.9.3",
            },
            // Every clientmail package from its tarball, never from the registry.
            overrides: tarballOf,
          },
          null,
          2,
        ),
      );
      await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], {
        cwd: app,
      });
      if (existsSync(join(app, "node_modules", "vitest"))) {
        throw new Error("vitest was installed in the consumer project; the smoke test needs it absent");
      }
    });

    await step("@clientmail/testkit loads from CJS and ESM without vitest", async () => {
      const check = (name) =>
        `if (typeof ${name}.createGmailFake !== "function" || typeof ${name}.startDovecot !== "function") throw new Error("testkit exports are missing");`;
      await run("node", ["-e", `const t = require("@clientmail/testkit"); ${check("t")}`], { cwd: app });
      await run(
        "node",
        ["--input-type=module", "-e", `const t = await import("@clientmail/testkit"); ${check("t")}`],
        { cwd: app },
      );
    });

    const snippet = readmeSnippet();
    const typescript = join(app, "node_modules", "typescript", "lib", "typescript.js");
    const ts = (await import(pathToFileURL(typescript).href)).default;
    const tsc = join(app, "node_modules", "typescript", "bin", "tsc");

    await step("tsc: the snippet and every package, node16 and bundler, skipLibCheck off", async () => {
      writeFileSync(join(app, "snippet.ts"), snippet);
      const imports = (names) =>
        names.map((name, i) => `import * as p${i} from "${name}";\nvoid p${i};\n`).join("") + "export {};\n";
      const names = [...packed.map(({ name }) => name), "@clientmail/core/ports"];
      writeFileSync(join(app, "every-package.ts"), imports(names.filter((n) => n !== "@clientmail/testkit")));
      // The testkit's types include msw's, which need the DOM lib (msw's own requirement).
      // `@clientmail/testkit/vitest` names vitest's types; its resolution is attw's to check.
      writeFileSync(join(app, "testkit.ts"), imports(["@clientmail/testkit"]));
      const common = {
        target: "ES2022",
        lib: ["ES2023"],
        strict: true,
        skipLibCheck: false,
        types: ["node"],
      };
      const configs = {
        "tsconfig.node16.json": {
          compilerOptions: {
            ...common,
            lib: ["ES2023", "DOM"],
            module: "node16",
            moduleResolution: "node16",
            outDir: "out",
          },
          files: ["snippet.ts", "every-package.ts", "testkit.ts"],
        },
        "tsconfig.bundler.json": {
          compilerOptions: { ...common, module: "esnext", moduleResolution: "bundler", noEmit: true },
          files: ["snippet.ts", "every-package.ts"],
        },
      };
      for (const [file, config] of Object.entries(configs)) {
        writeFileSync(join(app, file), JSON.stringify(config, null, 2));
      }
      await Promise.all(Object.keys(configs).map((config) => run("node", [tsc, "-p", config], { cwd: app })));
    });

    const { imports, body } = splitImports(snippet);
    const transpile = (code, module) =>
      ts.transpileModule(code, { compilerOptions: { module, target: ts.ScriptTarget.ES2022 } }).outputText;
    writeFileSync(join(app, "snippet.mjs"), transpile(snippet, ts.ModuleKind.ESNext));
    // CommonJS has no top-level await: the snippet's body runs in an async function.
    writeFileSync(
      join(app, "snippet.cjs"),
      transpile(
        `${imports}\nasync function main() {\n${body}\n}\nmain().catch((error) => {\n  console.error(error);\n  process.exitCode = 1;\n});\n`,
        ts.ModuleKind.CommonJS,
      ),
    );

    const imap = await step("loopback Dovecot with one client message", async () => {
      // The testkit and imapflow as the consumer project installed them.
      const fromApp = createRequire(join(app, "package.json"));
      const testkit = await import(pathToFileURL(fromApp.resolve("@clientmail/testkit")).href);
      dovecot = await testkit.startDovecot();
      const user = await dovecot.addUser("ann@ledger.example");
      const { ImapFlow } = fromApp("imapflow");
      const client = new ImapFlow({
        host: dovecot.host,
        port: dovecot.port,
        secure: false,
        doSTARTTLS: false,
        auth: { user: user.user, pass: user.password },
        logger: false,
      });
      await client.connect();
      const raw = testkit.buildConformanceMessage({
        messageId: `<smoke-${randomBytes(6).toString("hex")}@bakery.example>`,
        from: "Jo <jo@bakery.example>",
        to: "Ann Lee <ann@ledger.example>",
        subject,
        text: "Here are the receipts.",
      });
      await client.append("INBOX", raw);
      await client.logout();
      return {
        host: dovecot.host,
        port: dovecot.port,
        security: "none",
        user: user.user,
        password: user.password,
      };
    });

    const env = {
      ...process.env,
      IMAP_HOST: imap.host,
      IMAP_PORT: String(imap.port),
      IMAP_SECURITY: imap.security,
      IMAP_USER: imap.user,
      IMAP_PASSWORD: imap.password,
    };
    for (const [name, file] of [
      ["ESM", "snippet.mjs"],
      ["CommonJS", "snippet.cjs"],
      ["TypeScript (node16 output)", join("out", "snippet.js")],
    ]) {
      await step(`README snippet as ${name} files the message and exits`, async () => {
        const output = await run("node", [file], { cwd: app, env, timeoutMs: snippetTimeoutMs });
        if (!output.includes(subject)) {
          throw new Error(
            `the ${name} run exited but did not print the filed thread "${subject}":\n${output}`,
          );
        }
      });
    }
  } finally {
    await dovecot?.stop().catch(() => undefined);
    if (args.has("--keep")) console.log(`[smoke] kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

try {
  await main();
  console.log("\n[smoke] timings (s):");
  for (const [name, seconds] of timings) console.log(`  ${seconds.toFixed(1).padStart(6)}  ${name}`);
  console.log(`  ${((performance.now() - started) / 1000).toFixed(1).padStart(6)}  total`);
  console.log("[smoke] the packed packages install, lint clean, type-check and run the README snippet.");
} catch (error) {
  console.error(`\n[smoke] FAILED: ${error instanceof Error ? error.message : String(error)}`);
  console.log("[smoke] timings so far (s):");
  for (const [name, seconds] of timings) console.log(`  ${seconds.toFixed(1).padStart(6)}  ${name}`);
  process.exitCode = 1;
}
