/**
 * S4 under kill -9: a sending worker (`sending-worker.ts`, a child process running
 * `createWorker` with the real SMTP sender) is killed at a random point — after it claimed a
 * message, after the SMTP server accepted DATA (before it answered), or after the server accepted
 * and the copy was saved to Sent but before the message was marked sent — then a fresh worker
 * resumes, as a supervisor would restart it. The SMTP server (`startSmtpRelay`, delivering into
 * Dovecot) counts the deliveries of each message: a message may go out twice only when the
 * resuming worker recorded its decision to send it again (the sent-mail lookup did not find it),
 * and it must never be filed twice.
 *
 * `CLIENTMAIL_FAULT_TRIALS` sets the number of trials (the sample inside `pnpm test`: 10, which reaches every kill point; `full`: 30).
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClientMail, draftOf, type AfterCrashPolicy } from "@clientmail/core";
import { createPostgresJobQueue, createPostgresStore, installJobQueue, migrate } from "@clientmail/postgres";
import {
  attachDovecot,
  startSmtpRelay,
  type DovecotInfo,
  type DovecotServer,
  type SmtpRelay,
} from "@clientmail/testkit";
import { databaseFromTemplate, dropDatabase, freshDatabase } from "../support/postgres.js";
import { dovecotSkipReason, publish } from "./harness.js";
import { workerBundle } from "./worker-bundle.js";
import {
  sendingWorkerVariable,
  type SendingKillPoint,
  type SendingWorkerConfig,
  type SendingWorkerLine,
} from "./sending-worker-protocol.js";

const skip = dovecotSkipReason();
const trialsSetting = process.env.CLIENTMAIL_FAULT_TRIALS?.trim() ?? "";
const trials = /^\d+$/.test(trialsSetting) ? Number(trialsSetting) : trialsSetting === "full" ? 30 : 10;
const messagesPerTrial = 2;
const lockTimeoutMs = 1_000;
const clientAddress = "petra@acme.example";

type KillPoint = SendingKillPoint | "accepted";
const killPoints: readonly KillPoint[] = ["claim", "accepted", "sent"];

/** Mulberry32: the trials' plans are the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface RunResult {
  crashed: boolean;
  code: number | null;
  lines: SendingWorkerLine[];
}

/** One worker process, to its end (done, or killed). */
function runWorker(
  bundle: string,
  config: SendingWorkerConfig,
  onStart: (kill: () => void) => void,
  timeoutMs = 60_000,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle], {
      env: { ...process.env, [sendingWorkerVariable]: JSON.stringify(config) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: SendingWorkerLine[] = [];
    let stderr = "";
    createInterface({ input: child.stdout }).on("line", (line) => {
      try {
        lines.push(JSON.parse(line) as SendingWorkerLine);
      } catch {
        // not a protocol line
      }
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    let killedByParent = false;
    onStart(() => {
      killedByParent = true;
      child.kill("SIGKILL");
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`worker did not finish in ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const crashed = signal === "SIGKILL" || killedByParent;
      if (!crashed && code !== 0)
        reject(new Error(`worker exited ${code}: ${JSON.stringify(lines)} ${stderr}`));
      else resolve({ crashed, code, lines });
    });
  });
}

describe.skipIf(skip !== undefined)(
  `fault suite: sending under kill -9${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    let dovecot: DovecotServer;
    let relay: SmtpRelay;
    let template: string;
    let bundle: string;
    /** The relay's kill switch for the current trial: called with each accepted DATA. */
    let onAccepted: (() => void) | undefined;
    beforeAll(async () => {
      dovecot = attachDovecot(JSON.parse(process.env.CLIENTMAIL_TEST_DOVECOT!) as DovecotInfo);
      const client = await dovecot.addUser();
      relay = await startSmtpRelay({
        dovecot,
        mailboxes: new Map([[clientAddress, client]]),
        logins: [],
        onAccepted: () => onAccepted?.(),
      });
      template = await freshDatabase("sendfault");
      const pool = new pg.Pool({ connectionString: template, max: 2 });
      await migrate(pool);
      await installJobQueue(pool);
      await pool.end();
      bundle = await workerBundle("test/faults/sending-worker.ts");
    }, 240_000);
    afterAll(async () => {
      await relay?.close();
    });

    async function trial(index: number, random: () => number, afterCrash: AfterCrashPolicy) {
      const point = killPoints[Math.floor(random() * killPoints.length)]!;
      const n = 1 + Math.floor(random() * messagesPerTrial);
      const url = await databaseFromTemplate(template, "sendfault");
      const pool = new pg.Pool({ connectionString: url, max: 4 });
      pool.on("error", () => undefined);
      try {
        const store = createPostgresStore({ pool });
        const queue = createPostgresJobQueue({ pool, store });
        const cm = createClientMail({ store, queue, clock: { now: () => new Date() } });
        const sender = await dovecot.addUser();
        relay.addMailbox(sender);
        const domain = `ledger-${index}.example`;
        const firm = await cm.createFirm({ name: `Ledger ${index}`, internalDomains: [domain] });
        const ann = await cm.addMember(firm.id, { name: "Ann", email: `ann@${domain}`, role: "owner" });
        const box = await cm.connectMailbox(firm.id, ann.id, { provider: "imap", address: sender.user });
        const acme = await cm.createAccount(firm.id, {
          name: "Acme",
          kind: "business",
          contacts: [{ firstName: "Petra", emails: [{ email: clientAddress, emailSync: true }] }],
        });
        const queued = [];
        for (let m = 0; m < messagesPerTrial; m++)
          queued.push(
            ...(
              await cm.send(firm.id, {
                actor: { kind: "member", memberId: ann.id },
                mailboxId: box.id,
                accountIds: [acme.account.id],
                subject: `Trial ${index} message ${m + 1}`,
                text: "Your engagement letter.",
              })
            ).messages,
          );
        await queue.close();
        const config: SendingWorkerConfig = {
          databaseUrl: url,
          firmId: firm.id,
          imap: { host: dovecot.host, port: dovecot.port, user: sender.user, password: sender.password },
          smtp: { host: relay.host, port: relay.port },
          afterCrash,
          lockTimeoutMs,
        };
        let accepted = 0;
        const first = await runWorker(
          bundle,
          { ...config, crash: point === "accepted" ? undefined : { point, n } },
          (kill) => {
            onAccepted =
              point === "accepted"
                ? () => {
                    accepted += 1;
                    if (accepted === n) kill();
                  }
                : undefined;
          },
        );
        onAccepted = undefined;
        let runs = 1;
        let last = first;
        while (last.crashed && runs < 4) {
          last = await runWorker(bundle, config, () => undefined);
          runs += 1;
        }
        // Per message: deliveries at the server, the recorded decisions, the filed records.
        const audit = await store.listAudit(firm.id);
        const outcomes = [];
        for (const message of queued) {
          const settled = (await store.getOutbox(firm.id, message.id))!;
          const composedId = draftOf(message.draft).messageId;
          const deliveries = relay.deliveriesOf(composedId).length;
          const about = audit.filter((e) => e.subject === `outbox:${message.id}`);
          const resendDecision = about.some((e) => e.action === "outbox.resend_after_crash");
          const held = about.some((e) => e.action === "outbox.held_after_crash");
          const found = about.some(
            (e) => e.action === "message.sent" && (e.details as { how?: string }).how === "found_after_crash",
          );
          const records = await store.findMessagesByMessageIds(firm.id, [
            composedId.replace(/^<|>$/g, "").toLowerCase(),
          ]);
          outcomes.push({
            state: settled.state,
            deliveries,
            resendDecision,
            held,
            found,
            filed: records.length,
          });
        }
        return { point, n, crashed: first.crashed, runs, outcomes };
      } finally {
        await pool.end();
        await dropDatabase(url);
      }
    }

    async function runTrials(
      afterCrash: AfterCrashPolicy,
      count: number,
      seed: number,
      progress?: (done: number, perPoint: Record<string, Record<string, number>>, doubles: number) => void,
    ) {
      const random = seededRandom(seed);
      const perPoint: Record<string, Record<string, number>> = {};
      const doubles: string[] = [];
      const violations: string[] = [];
      let kills = 0;
      for (let index = 1; index <= count; index++) {
        const result = await trial(index, random, afterCrash);
        if (result.crashed) kills += 1;
        const bucket = (perPoint[result.point] ??= { trials: 0, killed: 0 });
        bucket.trials! += 1;
        if (result.crashed) bucket.killed! += 1;
        for (const [m, o] of result.outcomes.entries()) {
          const outcome =
            o.deliveries === 0
              ? o.held
                ? "held_not_delivered"
                : `not_delivered_${o.state}`
              : o.deliveries === 1
                ? o.found
                  ? "delivered_once_found_after_crash"
                  : o.resendDecision
                    ? "delivered_once_after_resend_decision"
                    : o.held
                      ? "delivered_once_held"
                      : "delivered_once"
                : o.resendDecision
                  ? "delivered_twice_with_decision"
                  : "delivered_twice_without_decision";
          bucket[outcome] = (bucket[outcome] ?? 0) + 1;
          if (o.deliveries > 1)
            doubles.push(
              `trial ${index} message ${m + 1} (${result.point}#${result.n}): ${o.deliveries} deliveries, resend decision recorded: ${o.resendDecision}`,
            );
          if ((o.deliveries > 1 && !o.resendDecision) || o.deliveries > 2 || o.filed > 1)
            violations.push(
              `trial ${index} message ${m + 1} (${result.point}#${result.n}): ${JSON.stringify(o)}`,
            );
          if (afterCrash === "resend" && o.state !== "sent")
            violations.push(`trial ${index} message ${m + 1} not sent: ${JSON.stringify(o)}`);
          if (o.state === "sent" && (o.deliveries === 0 || o.filed !== 1))
            violations.push(`trial ${index} message ${m + 1} sent but ${JSON.stringify(o)}`);
        }
        if (index % 10 === 0) progress?.(index, perPoint, doubles.length);
      }
      return { perPoint, doubles, violations, kills };
    }

    it(
      `S4: ${trials} trials of kill -9 after claim, after the SMTP server accepted DATA, or before marking sent: never two deliveries of one message without a recorded resend decision, never filed twice`,
      async () => {
        const started = Date.now();
        const { perPoint, doubles, violations, kills } = await runTrials(
          "resend",
          trials,
          20261202,
          (done, sofar, doubled) =>
            publish(
              `S4 sending kill -9 progress: ${done}/${trials} trials, ${doubled} double deliveries, ${JSON.stringify(sofar)}`,
            ),
        );
        publish(
          `S4 sending kill -9 (afterCrash=resend): trials=${trials} kills=${kills} ms=${Date.now() - started} per point ${JSON.stringify(perPoint)}`,
        );
        publish(`S4 double deliveries (${doubles.length}): ${doubles.join("; ") || "none"}`);
        expect(violations, violations.join("\n")).toEqual([]);
        // A kill after the server accepted DATA needs the relay to see that DATA in this run.
        expect(kills).toBeGreaterThan(trials / 2);
      },
      Math.max(1_800_000, trials * 30_000),
    );

    it("S4: with `hold`, a message not found in Sent after a kill -9 is held for a person and never delivered twice", async () => {
      const count = Math.max(2, Math.round(trials / 5));
      const { perPoint, doubles, violations } = await runTrials("hold", count, 7);
      publish(`S4 sending kill -9 (afterCrash=hold): trials=${count} per point ${JSON.stringify(perPoint)}`);
      expect(violations, violations.join("\n")).toEqual([]);
      expect(doubles).toEqual([]);
    }, 1_800_000);
  },
);
