#!/usr/bin/env node
// The README's test command: prepares what the suites need on this machine, then runs them all.
import { spawnSync } from "node:child_process";

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: "inherit", ...options });
  return result.status ?? 1;
}

const steps = [];
for (const step of steps) step();

process.exit(run("pnpm", ["exec", "vitest", "run", ...process.argv.slice(2)], { shell: false }));
