/**
 * A real Dovecot IMAP server for tests and benchmarks, started from a throw-away configuration:
 * its own temp directory, a random free loopback port, a users file, special-use folders
 * (Sent, Drafts, Trash, Junk), a passwd-file per user, and optionally no CONDSTORE/QRESYNC, so a provider's fallback path
 * runs against the same server software.
 *
 * Needs the `dovecot` and `doveadm` binaries (Debian: `dovecot-imapd`). As root, the mail belongs
 * to a `vmail` system user (Dovecot refuses uid 0 for mail); as any other user, the whole server
 * runs as that user and owns the mail. {@link dovecotAvailability} says whether this machine can
 * run it. Everything the server reads lives in its own directory under the OS temp dir (mode
 * 0755), so it starts whatever directory the caller runs from.
 */
import { execFile, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { createServer, createConnection } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The system user that owns the mail of every test server started as root. */
export const DOVECOT_MAIL_USER = "vmail";

function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/**
 * The OS user that owns the mail: `vmail` as root, else the user running this process (the
 * whole server then runs as that user: no chroot, no privilege switch).
 */
function mailUser(): string {
  return isRoot() ? DOVECOT_MAIL_USER : userInfo().username;
}

/** The name of a user's primary group. */
function groupOf(user: string): string {
  return spawnSync("id", ["-gn", user], { encoding: "utf8" }).stdout.trim() || user;
}

/** Options of {@link startDovecot}. */
export interface DovecotOptions {
  /**
   * Advertise CONDSTORE and QRESYNC (the default). With `false` the server offers neither, like
   * many hosted IMAP servers, and a client must fall back to plain UID diffing.
   */
  condstore?: boolean;
  /** Directory to create the server's temp directory in. Defaults to the OS temp dir. */
  parentDir?: string;
  /**
   * What Dovecot does when it cannot read a message a FETCH asks for (`imap_fetch_failure`):
   * `disconnect-immediately` (Dovecot's default) drops the connection; `no-after` answers the
   * other messages and ends the FETCH with `NO` (asking again for the same message disconnects).
   */
  fetchFailure?: "disconnect-immediately" | "disconnect-after" | "no-after";
}

/**
 * Everything needed to reach and administer a running server from another process (test workers
 * get it through the environment as JSON). Plain data only.
 */
export interface DovecotInfo {
  host: string;
  port: number;
  /** Path of the generated `dovecot.conf`. */
  configPath: string;
  /** Root of the server's temp directory. */
  rootDir: string;
  /**
   * Directory of passwd-files, one per user (`<usersDir>/<user>` holding `user:{PLAIN}password`):
   * a new file is seen at once, where an edited shared file may be served from Dovecot's cache.
   */
  usersDir: string;
  /** Mail of user `u` lives in `<mailRoot>/<u>/Maildir`. */
  mailRoot: string;
  condstore: boolean;
  /** The OS user that owns the mail (`vmail` when started as root). Absent: `vmail`. */
  mailUser?: string;
}

/** A login on the server. */
export interface DovecotUser {
  user: string;
  password: string;
}

/** A running (or attached) Dovecot server. */
export interface DovecotServer {
  readonly info: DovecotInfo;
  readonly host: string;
  readonly port: number;
  /**
   * Adds a login (a fresh random one when `user` is omitted); it works at once. Mail folders are
   * created on first login.
   */
  addUser(user?: string, password?: string): Promise<DovecotUser>;
  /** The Maildir directory of a user (`<mailRoot>/<user>/Maildir`). */
  maildir(user: string): string;
  /**
   * Sets a mailbox's UIDVALIDITY (`doveadm mailbox update --uid-validity`): every UID a client
   * remembered for it becomes invalid. `n` must be greater than the current value for Dovecot to
   * accept it.
   */
  setUidValidity(user: string, mailbox: string, n: number): Promise<void>;
  /** Reads a mailbox's UIDVALIDITY through doveadm. */
  uidValidity(user: string, mailbox: string): Promise<number>;
  /** Gives every file under the mail root to the mail user (after writing Maildir files directly). */
  fixOwnership(): Promise<void>;
  /** Stops and starts the server on the same port; connected clients are dropped. */
  restart(): Promise<void>;
  /** Stops the server; `removeFiles` (default true for servers this process started) deletes its temp dir. Idempotent. */
  stop(options?: { removeFiles?: boolean }): Promise<void>;
}

/** Whether this machine can run {@link startDovecot}, and if not, why. */
export function dovecotAvailability(): { available: true } | { available: false; reason: string } {
  const missing = ["dovecot", "doveadm"].filter(
    (bin) => spawnSync("sh", ["-c", `command -v ${bin}`]).status !== 0,
  );
  if (missing.length > 0) {
    return {
      available: false,
      reason: `${missing.join(" and ")} not installed (Debian/Ubuntu: apt-get install dovecot-imapd)`,
    };
  }
  if (isRoot() && spawnSync("id", ["-u", DOVECOT_MAIL_USER]).status !== 0) {
    return {
      available: false,
      reason: `system user "${DOVECOT_MAIL_USER}" is missing (useradd --system ${DOVECOT_MAIL_USER})`,
    };
  }
  return { available: true };
}

/** A free TCP port on 127.0.0.1, as the OS hands it out. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// Dovecot 2.3's post-login capabilities, minus CONDSTORE and QRESYNC.
const capabilitiesWithoutCondstore =
  "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS " +
  "THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED " +
  "I18NLEVEL=1 ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY " +
  "PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE";

function configText(info: DovecotInfo, runDir: string, options: DovecotOptions): string {
  const owner = info.mailUser ?? DOVECOT_MAIL_USER;
  // Not root: every Dovecot process runs as this user, so no chroot and no switch of user.
  const unprivileged = isRoot()
    ? ""
    : `default_internal_user = ${owner}\ndefault_internal_group = ${groupOf(owner)}\ndefault_login_user = ${owner}\n`;
  const firstValidUid = Math.min(
    100,
    Number(spawnSync("id", ["-u", owner], { encoding: "utf8" }).stdout.trim()) || 100,
  );
  return `# Generated by @clientmail/testkit for one test run.
protocols = imap
listen = 127.0.0.1
base_dir = ${runDir}
state_dir = ${join(info.rootDir, "state")}
instance_name = clientmail-${randomBytes(4).toString("hex")}
log_path = ${join(info.rootDir, "dovecot.log")}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:${info.mailRoot}/%u/Maildir
mail_uid = ${owner}
mail_gid = ${groupOf(owner)}
${unprivileged}first_valid_uid = ${firstValidUid}
first_valid_gid = 1
mail_max_userip_connections = 100
imap_fetch_failure = ${options.fetchFailure ?? "disconnect-immediately"}
${info.condstore ? "" : `imap_capability = ${capabilitiesWithoutCondstore}\n`}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${info.usersDir}/%u
}
userdb {
  driver = static
  args = uid=${owner} gid=${groupOf(owner)} home=${info.mailRoot}/%u
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${info.port}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
protocol imap {
  mail_max_userip_connections = 100
}
`;
}

async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host, port });
      socket.once("data", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
      socket.setTimeout(1000, () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`Dovecot did not accept connections on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function readPid(runDir: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(join(runDir, "master.pid"), "utf8")).trim(), 10);
    return Number.isFinite(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function readPidSync(runDir: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(runDir, "master.pid"), "utf8").trim(), 10);
    return Number.isFinite(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A killed daemon stays a zombie until its parent (init) reaps it; that counts as stopped.
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

async function logTail(info: DovecotInfo): Promise<string> {
  try {
    return (await readFile(join(info.rootDir, "dovecot.log"), "utf8")).split("\n").slice(-15).join("\n");
  } catch {
    return "(no log)";
  }
}

function runDirOf(info: DovecotInfo): string {
  return join(info.rootDir, "run");
}

async function launch(info: DovecotInfo): Promise<void> {
  // The daemon's children keep inherited pipes open, so its output goes to a file, not a pipe.
  const status = await new Promise<number | null>((resolve, reject) => {
    const child = spawn("dovecot", ["-c", info.configPath], { stdio: "ignore" });
    child.once("error", reject);
    child.once("exit", (code) => resolve(code));
  });
  if (status !== 0)
    throw new Error(`dovecot exited with status ${String(status)} while starting\n${await logTail(info)}`);
  try {
    await waitForPort(info.host, info.port, 10_000);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${await logTail(info)}`, { cause: error });
  }
}

/**
 * Stops the daemon. Graceful waits for Dovecot's own shutdown (about 3 s); otherwise the process
 * group (the master runs in its own session) is killed after a short grace, which is what a
 * test server about to be deleted needs.
 */
async function halt(info: DovecotInfo, graceful: boolean): Promise<void> {
  const pid = await readPid(runDirOf(info));
  if (pid === undefined || !alive(pid)) return;
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 10_000;
  const graceUntil = Date.now() + (graceful ? 10_000 : 200);
  while (alive(pid) && Date.now() < graceUntil) await new Promise((r) => setTimeout(r, 25));
  if (!graceful || alive(pid)) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // The group is already gone.
    }
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }
  // The master exits before its children have released the listener; wait until the port is free.
  while (Date.now() < deadline) {
    const busy = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: info.host, port: info.port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (!busy) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

function serverFor(info: DovecotInfo, owned: boolean): DovecotServer {
  let stopped = false;
  const doveadm = async (args: string[]) => (await run("doveadm", ["-c", info.configPath, ...args])).stdout;
  return {
    info,
    host: info.host,
    port: info.port,
    async addUser(user, password) {
      const login = user ?? `u${randomBytes(6).toString("hex")}@example.test`;
      const secret = password ?? randomBytes(12).toString("hex");
      if (/[:\n]/.test(login) || /\n/.test(secret))
        throw new Error(`invalid Dovecot login ${JSON.stringify(login)}`);
      if (login.includes("/") || login.startsWith("."))
        throw new Error(`invalid Dovecot login ${JSON.stringify(login)}`);
      await writeFile(join(info.usersDir, login), `${login}:{PLAIN}${secret}\n`, { mode: 0o644 });
      return { user: login, password: secret };
    },
    maildir(user) {
      return join(info.mailRoot, user, "Maildir");
    },
    async setUidValidity(user, mailbox, n) {
      await doveadm(["mailbox", "update", "-u", user, "--uid-validity", String(n), mailbox]);
    },
    async uidValidity(user, mailbox) {
      const out = await doveadm(["-f", "flow", "mailbox", "status", "-u", user, "uidvalidity", mailbox]);
      const match = /uidvalidity=(\d+)/.exec(out);
      if (!match) throw new Error(`doveadm did not report a UIDVALIDITY for ${mailbox}: ${out}`);
      return Number(match[1]);
    },
    async fixOwnership() {
      const owner = info.mailUser ?? DOVECOT_MAIL_USER;
      await run("chown", ["-R", `${owner}:${groupOf(owner)}`, info.mailRoot]);
    },
    async restart() {
      await halt(info, true);
      await launch(info);
    },
    async stop(options = {}) {
      if (stopped) return;
      stopped = true;
      await halt(info, !(options.removeFiles ?? owned));
      if (options.removeFiles ?? owned) await rm(info.rootDir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts a Dovecot server in a fresh temp directory on a random free loopback port (plain IMAP,
 * no TLS). Rejects with the tail of Dovecot's log when it cannot start. Stop it with
 * {@link DovecotServer.stop}.
 */
export async function startDovecot(options: DovecotOptions = {}): Promise<DovecotServer> {
  const availability = dovecotAvailability();
  if (!availability.available) throw new Error(`Cannot start Dovecot: ${availability.reason}`);
  const rootDir = await mkdtemp(join(options.parentDir ?? tmpdir(), "cm-dovecot-"));
  await chmod(rootDir, 0o755);
  const mailRoot = join(rootDir, "mail");
  await mkdir(mailRoot, { recursive: true });
  await mkdir(join(rootDir, "state"), { recursive: true });
  await mkdir(join(rootDir, "run"), { recursive: true });
  const owner = mailUser();
  const { stdout } = await run("id", ["-u", owner]);
  const { stdout: gid } = await run("id", ["-g", owner]);
  await chown(mailRoot, Number(stdout.trim()), Number(gid.trim()));
  const usersDir = join(rootDir, "users");
  await mkdir(usersDir, { recursive: true });
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const info: DovecotInfo = {
      host: "127.0.0.1",
      port: await freePort(),
      configPath: join(rootDir, "dovecot.conf"),
      rootDir,
      usersDir,
      mailRoot,
      condstore: options.condstore ?? true,
      mailUser: owner,
    };
    await writeFile(info.configPath, configText(info, runDirOf(info), options), { mode: 0o644 });
    try {
      await launch(info);
      const server = serverFor(info, true);
      // If the host process dies without stopping the server, take the daemon down with it.
      const killOnExit = () => {
        const pid = readPidSync(runDirOf(info));
        if (pid === undefined) return;
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      };
      process.once("exit", killOnExit);
      const stop = server.stop.bind(server);
      server.stop = async (stopOptions) => {
        process.removeListener("exit", killOnExit);
        await stop(stopOptions);
      };
      return server;
    } catch (error) {
      // Another process may have taken the port between our probe and Dovecot's bind.
      lastError = error;
      await halt(info, false);
    }
  }
  await rm(rootDir, { recursive: true, force: true });
  throw lastError;
}

/**
 * Attaches to a server another process started (from its {@link DovecotInfo}), to add users or
 * change UIDVALIDITY. `stop` on an attached server stops it for everyone; tests that restart or
 * stop servers should start their own.
 */
export function attachDovecot(info: DovecotInfo): DovecotServer {
  if (!existsSync(info.configPath)) throw new Error(`No Dovecot configuration at ${info.configPath}`);
  return serverFor(info, false);
}
