/**
 * One worker process of the scale benchmark (`scale.bench.ts`): production's shape — `createWorker`
 * over the PostgreSQL store, job queue and pacing, the real Gmail, Graph and IMAP providers — with
 * the Gmail and Graph fakes reached over loopback HTTP and Dovecot over loopback IMAP. Credentials
 * come from the store, encrypted by the keyring. The parent talks to it over IPC: `start`,
 * `notify` (a push the host's webhook received), `stop`.
 */
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import pg from "pg";
import { createAesGcmKeyring, createWorker, type PushNotification } from "@clientmail/core";
import type { Logger, MailProvider } from "@clientmail/core/ports";
import { createGmailProvider } from "@clientmail/gmail";
import { createGraphProvider } from "@clientmail/graph";
import { createImapProvider } from "@clientmail/imap";
import { createPostgresJobQueue, createPostgresPacing, createPostgresStore } from "@clientmail/postgres";
import { loopbackHostPolicy } from "../packages/testkit/src/loopback-host-policy.js";

/** What the parent stores (encrypted) per mailbox. */
export type ScaleCredentials =
  | { kind: "gmail"; clientId: string; clientSecret: string; refreshToken: string }
  | { kind: "graph"; accessToken: string }
  | { kind: "imap"; user: string; password: string };

export type ToWorker =
  | { type: "start" }
  | { type: "notify"; id: number; firmId: string; notification: PushNotification }
  | { type: "memory"; snapshot?: boolean }
  | { type: "stop" };
/** Peak memory of the process since it started (bytes), and the providers it keeps open. */
export interface WorkerMemory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  openProviders: number;
  /** Samples taken (one a second). */
  samples: number;
}
export type FromWorker =
  | { type: "ready" }
  | { type: "started" }
  | { type: "stopped"; memory: WorkerMemory }
  | { type: "notified"; id: number }
  | { type: "memory"; memory: WorkerMemory }
  | { type: "error"; message: string };

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const send = (message: FromWorker) => process.send?.(message);

const warnings = new Map<string, number>();
const count = (message: string, fields?: Record<string, unknown>) => {
  const code = fields?.code;
  const key = typeof code === "string" ? `${message} (${code})` : message;
  warnings.set(key, (warnings.get(key) ?? 0) + 1);
};
const logger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (message, fields) => count(message, fields),
  error: (message, fields) => count(message, fields),
};

// Peak memory, sampled once a second (and at each report).
const peak: WorkerMemory = {
  rss: 0,
  heapUsed: 0,
  external: 0,
  arrayBuffers: 0,
  openProviders: 0,
  samples: 0,
};
let openProviders: () => Promise<number> = async () => 0;
const sample = async (): Promise<WorkerMemory> => {
  const usage = process.memoryUsage();
  peak.rss = Math.max(peak.rss, usage.rss);
  peak.heapUsed = Math.max(peak.heapUsed, usage.heapUsed);
  peak.external = Math.max(peak.external, usage.external);
  peak.arrayBuffers = Math.max(peak.arrayBuffers, usage.arrayBuffers);
  peak.openProviders = Math.max(peak.openProviders, await openProviders().catch(() => 0));
  peak.samples += 1;
  return { ...peak };
};
setInterval(() => void sample(), 1000).unref();

async function main(): Promise<void> {
  const pool = new pg.Pool({
    connectionString: env("SCALE_DATABASE_URL"),
    max: Number(env("SCALE_CONCURRENCY")) + 6,
  });
  pool.on("error", () => undefined);
  const store = createPostgresStore({ pool });
  // A killed worker's jobs are unlocked once its heartbeat is half a lease old, so they run
  // again by the time its mailboxes' leases expire (docs/running-at-scale.md).
  const queue = createPostgresJobQueue({ pool, store, lockTimeoutMs: Number(env("SCALE_LEASE_TTL_MS")) / 2 });
  const pacing = createPostgresPacing({ pool });
  const keyring = createAesGcmKeyring({ keys: { k1: env("SCALE_KEY") }, currentKeyId: "k1" });
  const gmailUrl = env("SCALE_GMAIL_URL");
  const graphUrl = env("SCALE_GRAPH_URL");
  const [imapHost, imapPort] = (process.env.SCALE_IMAP ?? "127.0.0.1:0").split(":") as [string, string];
  const worker = createWorker({
    store,
    queue,
    keyring,
    pacing,
    clock: { now: () => new Date() },
    logger,
    holder: `${hostname()}-${process.pid}`,
    concurrency: Number(env("SCALE_CONCURRENCY")),
    leaseTtlMs: Number(env("SCALE_LEASE_TTL_MS")),
    pollIntervalMs: Number(env("SCALE_POLL_MS")),
    auditIntervalMs: 365 * 86_400_000,
    queuePollIntervalMs: 200,
    providerFor: (mailbox, secret, context): MailProvider => {
      const credentials = JSON.parse(secret!) as ScaleCredentials;
      switch (credentials.kind) {
        case "gmail":
          return createGmailProvider({
            credentials,
            emailAddress: mailbox.address,
            baseUrl: gmailUrl,
            tokenUrl: `${gmailUrl}/token`,
            allowInsecure: true,
            logger,
            push: { topicName: "projects/scale/topics/gmail" },
            quota: { shared: context?.pacing },
          });
        case "graph":
          return createGraphProvider({
            mailbox: mailbox.address,
            getAccessToken: async () => credentials.accessToken,
            // Graph's own URL, carried to the fake's loopback bridge: the provider's Graph client
            // treats an http:// base URL as a path under graph.microsoft.com.
            fetch: (input, init) =>
              fetch(
                String(input instanceof Request ? input.url : input).replace(
                  "https://graph.microsoft.com",
                  graphUrl,
                ),
                init,
              ),
            logger,
            folders: ["inbox"],
            push: {
              notificationUrl: `https://hooks.scale.example/graph?firm=${encodeURIComponent(mailbox.firmId)}`,
            },
            sharedRequests: context?.pacing,
          });
        case "imap":
          return createImapProvider({
            host: imapHost,
            port: Number(imapPort),
            security: "none",
            hostPolicy: loopbackHostPolicy,
            user: credentials.user,
            password: credentials.password,
            logger,
          });
      }
    },
  });
  openProviders = async () => (await worker.health()).openProviders;
  process.on("message", (message: ToWorker) => {
    void (async () => {
      try {
        if (message.type === "start") {
          await worker.start();
          send({ type: "started" });
        } else if (message.type === "notify") {
          await worker.notifyPush(message.firmId, message.notification);
          // The host's webhook answers only now; the parent counts an unanswered push as not delivered.
          send({ type: "notified", id: message.id });
        } else if (message.type === "memory") {
          // Diagnosis: SCALE_HEAP_SNAPSHOT=1 writes the heap of each process as it reports.
          if (message.snapshot && process.env.SCALE_HEAP_SNAPSHOT)
            console.error(
              `[${process.pid}] heap snapshot ${writeHeapSnapshot(join(tmpdir(), `scale-${process.pid}.heapsnapshot`))}`,
            );
          send({ type: "memory", memory: await sample() });
        } else {
          const memory = await sample();
          await worker.stop({ timeoutMs: 10_000 });
          await pool.end();
          if (warnings.size > 0) console.error(`[${process.pid}] warnings`, Object.fromEntries(warnings));
          send({ type: "stopped", memory });
          process.exit(0);
        }
      } catch (error) {
        send({ type: "error", message: error instanceof Error ? error.message : String(error) });
      }
    })();
  });
  send({ type: "ready" });
}

main().catch((error: unknown) => {
  send({ type: "error", message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
