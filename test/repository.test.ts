/**
 * Repository rules that keep the packages alike and the architecture honest (STYLE.md).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

function packageDirs(): string[] {
  const dirs: string[] = [];
  for (const group of ["packages", "packages/providers", "packages/storage-adapters"]) {
    for (const name of readdirSync(join(root, group))) {
      const dir = join(root, group, name);
      if (statSync(dir).isDirectory() && existsSync(join(dir, "package.json"))) dirs.push(dir);
    }
  }
  return dirs;
}

function filesUnder(dir: string, suffix: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path, suffix));
    else if (entry.name.endsWith(suffix)) out.push(path);
  }
  return out;
}

function withoutSourceCondition(exportsMap: unknown): unknown {
  if (typeof exportsMap !== "object" || exportsMap === null) return exportsMap;
  return Object.fromEntries(
    Object.entries(exportsMap)
      .filter(([condition]) => condition !== "@clientmail/source")
      .map(([condition, target]) => [condition, withoutSourceCondition(target)]),
  );
}

const rootRepositoryUrl = "git+https://github.com/clientmail/clientmail.git";

describe("packages look alike", () => {
  const dirs = packageDirs();

  it("finds every package", () => {
    expect(dirs.map((d) => relative(root, d)).sort()).toEqual(
      expect.arrayContaining([
        "packages/core",
        "packages/testkit",
        "packages/storage-adapters/memory",
        "packages/providers/utils",
      ]),
    );
  });

  for (const dir of dirs) {
    const name = relative(root, dir);
    it(`${name} has the common shape`, () => {
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      const folder = name.split("/").pop();
      // The folder is the package, except the providers' shared internals (named like the AI SDK's).
      expect(manifest.name).toBe(
        name === "packages/providers/utils" ? "@clientmail/provider-utils" : `@clientmail/${folder}`,
      );
      expect(manifest.sideEffects).toBe(false);
      expect(manifest.engines).toEqual({ node: ">=20.19" });
      expect(manifest.files).toEqual(["dist", "LICENSE"]);
      expect(manifest.type).toBe("module");
      const main = manifest.exports["."];
      expect(main["@clientmail/source"]).toBe("./src/index.ts");
      expect(main.import).toEqual({ types: "./dist/index.d.ts", default: "./dist/index.js" });
      expect(main.require).toEqual({ types: "./dist/index.d.cts", default: "./dist/index.cjs" });
      // What is published: the same map without the workspace's source condition (no `src/` file
      // is shipped), and node10 resolvers find every subpath's types through typesVersions.
      expect(manifest.publishConfig.exports).toEqual(withoutSourceCondition(manifest.exports));
      const subpaths = Object.keys(manifest.exports).filter((s) => s !== "." && s !== "./package.json");
      for (const subpath of subpaths) {
        expect(manifest.typesVersions?.["*"]?.[subpath.slice(2)], `${name} typesVersions ${subpath}`).toEqual(
          [manifest.exports[subpath].require.types],
        );
      }
      expect(manifest.license).toBe("MIT");
      expect(readFileSync(join(dir, "LICENSE"), "utf8")).toBe(readFileSync(join(root, "LICENSE"), "utf8"));
      expect(manifest.repository).toMatchObject({ type: "git", directory: name });
      expect(manifest.repository.url).toBe(rootRepositoryUrl);
      for (const file of ["tsup.config.ts", "tsconfig.json", "README.md", "src/index.ts"]) {
        expect(existsSync(join(dir, file)), `${name}/${file}`).toBe(true);
      }
      expect(readFileSync(join(dir, "src/index.ts"), "utf8")).toMatch(/^\/\*\*[\s\S]*?@module[\s\S]*?\*\//);
      const tsconfig = JSON.parse(readFileSync(join(dir, "tsconfig.json"), "utf8"));
      expect(tsconfig.extends).toMatch(/tsconfig\.base\.json$/);
    });
  }
});

describe("architecture", () => {
  it("the core domain imports no Node built-in and no I/O library", () => {
    const allowed = new Set([
      "zod",
      "email-addresses",
      "@noble/hashes/sha2.js",
      "@noble/hashes/utils.js",
      "fast-check",
      "vitest",
    ]);
    for (const file of filesUnder(join(root, "packages/core/src/domain"), ".ts")) {
      const source = readFileSync(file, "utf8");
      for (const match of source.matchAll(/from\s+"([^"]+)"/g)) {
        const specifier = match[1]!;
        if (specifier.startsWith(".")) continue;
        expect(allowed.has(specifier), `${relative(root, file)} imports ${specifier}`).toBe(true);
      }
      expect(source, relative(root, file)).not.toMatch(/\brequire\(|process\.|Buffer\./);
    }
  });

  it("core depends on no adapter library", () => {
    const manifest = JSON.parse(readFileSync(join(root, "packages/core/package.json"), "utf8"));
    const forbidden = [
      "pg",
      "imapflow",
      "googleapis",
      "@googleapis/gmail",
      "@microsoft/microsoft-graph-client",
      "nodemailer",
      "mailparser",
    ];
    for (const dep of Object.keys(manifest.dependencies ?? {})) expect(forbidden).not.toContain(dep);
  });

  it("the testkit's root export reaches no test runner: vitest-bound suites are on /vitest only", () => {
    const testkit = join(root, "packages/testkit/src");
    const seen = new Set<string>();
    const reachesVitest: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(file, "utf8");
      for (const match of source.matchAll(/^(?:import|export)\s(?!type\b)[^;]*?from\s+"([^"]+)"/gm)) {
        const specifier = match[1]!;
        if (specifier === "vitest" || specifier.startsWith("vitest/"))
          reachesVitest.push(relative(root, file));
        if (specifier.startsWith(".")) visit(join(file, "..", specifier.replace(/\.js$/, ".ts")));
      }
    };
    visit(join(testkit, "index.ts"));
    expect(seen.size).toBeGreaterThan(10);
    expect(reachesVitest).toEqual([]);
    // The subpath does carry the suites (a split that moved nothing would pass the check above).
    expect(readFileSync(join(testkit, "vitest.ts"), "utf8")).toMatch(/store-conformance/);
  });

  it("core's root export carries the Clock and Logger defaults", async () => {
    const core = await import("@clientmail/core");
    const ports = await import("@clientmail/core/ports");
    expect(core.systemClock).toBe(ports.systemClock);
    expect(core.silentLogger).toBe(ports.silentLogger);
  });
});
