/**
 * The SDK wired from the configuration: the memory store and in-process queue by default, or
 * PostgreSQL and its job engine (migrations run here, at start) when DATABASE_URL is set; a
 * folder for documents and message sources; the providers and senders each mailbox is opened
 * with. Everything the routes use comes from here.
 */
import { join, resolve } from "node:path";
import pg from "pg";
import {
  createAesGcmKeyring,
  createClientMail,
  generateKeyringKey,
  type ClientMail,
  type ClientMailSettings,
} from "@clientmail/core";
import type { JobQueue, Keyring, Logger } from "@clientmail/core/ports";
import { createFolderBlobStore, createFolderDocumentSink } from "@clientmail/folder";
import { createMemoryJobQueue, createMemoryStore } from "@clientmail/memory";
import { createPostgresJobQueue, createPostgresStore, installJobQueue, migrate } from "@clientmail/postgres";
import type { AppConfig } from "./config.js";
import { mailProviders, mailSenders } from "./providers.js";
import { memoryUsers, postgresUsers, type AppUsers } from "./users.js";

/** What the routes and workers share. */
export interface Services {
  config: AppConfig;
  cm: ClientMail;
  /** The app's sign-in records (the SDK keeps no passwords: sign-in is the host's). */
  users: AppUsers;
  queue: JobQueue;
  keyring: Keyring;
  logger: Logger;
  /** Stops the workers and closes the pool. */
  close(): Promise<void>;
}

/** What tests and the demo may replace. */
export interface ServiceOverrides {
  providers?: ClientMailSettings["providers"];
  senders?: ClientMailSettings["senders"];
  logger?: Logger;
}

function keyringFrom(config: AppConfig): Keyring {
  if (!config.KEYRING_KEYS)
    return createAesGcmKeyring({ keys: { demo: generateKeyringKey() }, currentKeyId: "demo" });
  const pairs = config.KEYRING_KEYS.split(",").map((pair) => pair.split(":") as [string, string]);
  return createAesGcmKeyring({ keys: Object.fromEntries(pairs), currentKeyId: pairs[0]![0] });
}

/** A logger on the console, at the configured level; it is given no secrets or bodies by the SDK. */
export function consoleLogger(level: AppConfig["LOG_LEVEL"]): Logger {
  const order = ["debug", "info", "warn", "error", "silent"];
  const at = order.indexOf(level);
  const line =
    (name: "debug" | "info" | "warn" | "error") => (message: string, fields?: Record<string, unknown>) => {
      if (order.indexOf(name) >= at)
        console[name === "debug" ? "log" : name](`[${name}] ${message}`, fields ?? "");
    };
  return { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
}

/** Opens the store, queue and facade for `config`; with DATABASE_URL, migrates first. */
export async function openServices(config: AppConfig, overrides: ServiceOverrides = {}): Promise<Services> {
  const logger = overrides.logger ?? consoleLogger(config.LOG_LEVEL);
  const keyring = keyringFrom(config);
  const dataDir = resolve(config.DATA_DIR);
  const blobs = createFolderBlobStore({ dir: join(dataDir, "sources") });
  const documents = createFolderDocumentSink({ dir: join(dataDir, "documents") });
  let pool: pg.Pool | undefined;
  let store: ClientMailSettings["store"];
  let queue: JobQueue;
  let users: AppUsers;
  if (config.DATABASE_URL) {
    pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 10 });
    // A connection that dies (a database restart) is logged and replaced, not a crash; the job
    // engine checks that both handlers are there.
    const warn = (error: Error) =>
      logger.warn("database connection error", { code: (error as { code?: string }).code });
    pool.on("error", warn);
    pool.on("connect", (client) => client.on("error", warn));
    await migrate(pool);
    await installJobQueue(pool);
    store = createPostgresStore({ pool });
    queue = createPostgresJobQueue({ pool, store, logger });
    users = await postgresUsers(pool);
  } else {
    const memory = createMemoryStore();
    store = memory;
    queue = createMemoryJobQueue({ store: memory });
    users = memoryUsers();
  }
  const cm = createClientMail({
    store,
    keyring,
    queue,
    blobs,
    documents,
    logger,
    providers: overrides.providers ?? mailProviders(config),
    senders: overrides.senders ?? mailSenders(config),
    sync: { holder: `app-${process.pid}` },
  });
  return {
    config,
    cm,
    users,
    queue,
    keyring,
    logger,
    async close() {
      await cm.close({ timeoutMs: 10_000 });
      await pool?.end();
    },
  };
}
