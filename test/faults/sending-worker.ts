/**
 * The sending fault suite's worker: a child process that runs a production worker —
 * `createWorker` over the PostgreSQL store and job queue, with the real IMAP provider and SMTP
 * sender opened by the worker itself — for one firm, until every queued message of the firm is
 * settled (sent, failed or held), and that can kill itself with SIGKILL at a chosen point:
 *
 * - `claim`: the outbox job claimed a message (the compare-and-set committed), before anything
 *   was submitted;
 * - `sent`: the SMTP server accepted the message and its copy was APPENDed to Sent, before the
 *   message was marked sent.
 *
 * (The third point, after the SMTP server accepted DATA and before it answered, is the parent's:
 * its relay kills this process.) Configured by one JSON value in `CLIENTMAIL_SENDING_FAULT_WORKER`
 * ({@link SendingWorkerConfig}); reports JSON lines on stdout.
 */
import { writeSync } from "node:fs";
import pg from "pg";
import { createWorker } from "@clientmail/core";
import type { Logger, MailSender, Store } from "@clientmail/core/ports";
import { createImapProvider, createSmtpSender } from "@clientmail/imap";
import { createPostgresJobQueue, createPostgresStore } from "@clientmail/postgres";
import { loopbackHostPolicy } from "@clientmail/testkit";
import { watchQueue, wraps } from "./jobs.js";
import {
  sendingWorkerVariable,
  type SendingKillPoint,
  type SendingWorkerConfig,
  type SendingWorkerLine,
} from "./sending-worker-protocol.js";

function report(line: SendingWorkerLine): void {
  // Synchronous, so that the line is out before a SIGKILL that follows it.
  writeSync(1, `${JSON.stringify(line)}\n`);
}

const stderrLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (message, context) => process.stderr.write(`${message} ${JSON.stringify(context ?? {})}\n`),
  error: (message, context) => process.stderr.write(`${message} ${JSON.stringify(context ?? {})}\n`),
};

async function main(): Promise<void> {
  const config = JSON.parse(process.env[sendingWorkerVariable] ?? "") as SendingWorkerConfig;
  const counts: Record<SendingKillPoint, number> = { claim: 0, sent: 0 };
  const hit = async (point: SendingKillPoint) => {
    const n = ++counts[point];
    if (config.crash?.point === point && config.crash.n === n) {
      report({ t: "crash", point, n });
      process.kill(process.pid, "SIGKILL");
      await new Promise(() => undefined);
    }
  };
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 6 });
  pool.on("error", () => undefined);
  const rawStore = createPostgresStore({ pool });
  // The claim point: the compare-and-set committed. Every store the engine is handed (the store,
  // each transaction's `tx`) is instrumented, and the queue is told which store each wraps.
  const instrument = (inner: Store): Store =>
    wraps(
      new Proxy(inner, {
        get(target, prop) {
          const value: unknown = Reflect.get(target, prop, target);
          if (typeof value !== "function") return value;
          if (prop === "transaction")
            return <T>(fn: (tx: Store) => Promise<T>) => target.transaction((tx) => fn(instrument(tx)));
          if (prop !== "claimOutbox") return (value as (...a: unknown[]) => unknown).bind(target);
          return async (...args: unknown[]) => {
            const claimed =
              (await (value as (...a: unknown[]) => Promise<boolean>).apply(target, args)) === true;
            if (claimed) await hit("claim");
            return claimed;
          };
        },
      }),
      inner,
    );
  const store = instrument(rawStore);
  const queue = watchQueue(
    createPostgresJobQueue({
      pool,
      store: rawStore,
      lockTimeoutMs: config.lockTimeoutMs,
      retryDelayMs: () => 50,
      logger: stderrLogger,
    }),
    {},
  );
  const imap = {
    ...config.imap,
    security: "none" as const,
    hostPolicy: loopbackHostPolicy,
    folders: ["INBOX"],
  };
  const worker = createWorker({
    store,
    queue,
    clock: { now: () => new Date() },
    logger: stderrLogger,
    holder: `send-fault-${process.pid}`,
    concurrency: 2,
    queuePollIntervalMs: 50,
    pollIntervalMs: 60 * 60_000,
    auditIntervalMs: 365 * 86_400_000,
    followUpMs: 60 * 60_000,
    maxWatchers: 0,
    afterCrash: config.afterCrash,
    providerFor: () => createImapProvider(imap),
    senderFactory: (): MailSender => {
      const inner = createSmtpSender({
        imap,
        smtp: { host: config.smtp.host, port: config.smtp.port, security: "none" },
      });
      return {
        async send(message, options) {
          const receipt = await inner.send(message, options);
          // The sent point: accepted and saved to Sent, not yet marked sent.
          await hit("sent");
          return receipt;
        },
        findSent: (messageId, options) => inner.findSent(messageId, options),
        close: () => inner.close(),
      };
    },
  });
  await worker.start();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const open = (await rawStore.listOutbox(config.firmId)).filter(
      (m) => m.state === "scheduled" || m.state === "submitting",
    );
    if (open.length === 0) break;
  }
  await worker.stop({ timeoutMs: 2_000 });
  await queue.close();
  await pool.end();
  report({ t: "done" });
  process.exit(0);
}

main().catch((error: unknown) => {
  report({ t: "fatal", message: error instanceof Error ? error.message : String(error) });
  process.exit(2);
});
