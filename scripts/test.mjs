#!/usr/bin/env node
// The README's test command: prepares what the suites need on this machine, then runs them all.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: "inherit", ...options });
  return result.status ?? 1;
}

function has(command) {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

function isDebianLike() {
  try {
    const release = readFileSync("/etc/os-release", "utf8");
    return /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/m.test(release);
  } catch {
    return false;
  }
}

// The IMAP suites run against a real Dovecot. On a fresh Debian/Ubuntu machine, as root, install
// it from the distribution (its own service start failing without systemd is harmless) and create
// the system user that owns test mail. Fast no-op when both are present; elsewhere the suites say
// they were skipped and why (and fail under CI).
function prepareDovecot() {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!has("dovecot") || !has("doveadm")) {
    if (!isRoot || !isDebianLike() || !has("apt-get")) {
      console.warn(
        "[test] Dovecot is not installed and cannot be installed here (needs root on Debian/Ubuntu).",
      );
      return;
    }
    console.log("[test] Installing Dovecot (dovecot-imapd) for the IMAP suites…");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    if (
      run("apt-get", ["update"], { env }) !== 0 ||
      run("apt-get", ["install", "-y", "dovecot-imapd"], { env }) !== 0
    ) {
      if (!has("dovecot")) console.warn("[test] Installing Dovecot failed; the IMAP suites will be skipped.");
    }
  }
  if (isRoot && has("dovecot") && spawnSync("id", ["-u", "vmail"], { stdio: "ignore" }).status !== 0) {
    run("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "vmail"]);
  }
}

// The example app's browser test drives Debian's Chromium (playwright-core, no bundled browser).
// On a fresh Debian/Ubuntu machine, as root, install it from the distribution, like Dovecot.
// Elsewhere the test says it was skipped and why (and fails under CI).
function prepareChromium() {
  if (process.env.CHROMIUM_PATH || has("chromium") || has("chromium-browser")) return;
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!isRoot || !isDebianLike() || !has("apt-get")) {
    console.warn(
      "[test] Chromium is not installed and cannot be installed here (needs root on Debian/Ubuntu); " +
        "the browser test will be skipped.",
    );
    return;
  }
  console.log("[test] Installing Chromium for the example app's browser test…");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (
    run("apt-get", ["update"], { env }) !== 0 ||
    run("apt-get", ["install", "-y", "--no-install-recommends", "chromium"], { env }) !== 0
  ) {
    if (!has("chromium"))
      console.warn("[test] Installing Chromium failed; the browser test will be skipped.");
  }
}

const steps = [prepareDovecot, prepareChromium];
for (const step of steps) step();

// vitest from this workspace: no global pnpm is needed (the README runs pnpm through npx).
const vitest = fileURLToPath(new URL("../node_modules/vitest/vitest.mjs", import.meta.url));
const args = process.argv.slice(2);
const status = run(process.execPath, [vitest, "run", ...args]);
// With no arguments: then a CI-sized sample of the fault suite (R1–R8), one file at a time so that
// its timing-sensitive cases have the machine to themselves (`pnpm test:faults` runs it whole).
if (args.length > 0 || status !== 0) process.exit(status);
process.exit(
  run(process.execPath, [vitest, "run", "--config", "vitest.faults.config.ts"], {
    env: { ...process.env, CLIENTMAIL_FAULT_SAMPLE: "1" },
  }),
);
