/**
 * R8 Y2: push registrations survive kill -9. A production worker in a child process runs the real
 * Gmail or Graph provider against the testkit's fake, served on a loopback HTTP bridge by this
 * process; the fake, the engine and the queue share one virtual clock, moved ahead so that
 * renewals come due. The worker kills itself while the mailboxes register (`push.subscribe`) and
 * again while they renew (`push.renew`) — before a registration request reaches the provider,
 * after the provider accepted it, or after the job's handler finished but before the queue
 * recorded it — and fresh workers carry on. Afterwards every mailbox must have a live, renewed
 * registration at the fake, recorded in the store with exactly one waiting renewal job, and
 * nothing at the fake that the store does not know (no orphaned Graph subscription, no doubled
 * registration).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gmailBackend, graphBackend, TrialTime, type Backend } from "./bridged-fakes.js";
import { staffAddresses, staffLabels } from "./corpus.js";
import {
  crashTrials,
  describeTrial,
  FaultSuite,
  fullRun,
  publish,
  type FaultFirm,
  type WorkerResult,
} from "./harness.js";
import type { Point, PointKind } from "./worker-protocol.js";

const day = 86_400_000;
const minute = 60_000;

/** A trial: the provider, and where the worker is killed while registering and while renewing. */
interface TrialPlan {
  kind: "gmail" | "graph";
  subscribe: Point;
  renew: Point;
  /**
   * Every worker was down past the registrations' expiry (by two hours) when renewing: Graph has
   * deleted its subscriptions (the renewal gets `not_found`, and the mailbox registers again).
   */
  late?: boolean;
}

/**
 * Aimed at the gaps: Graph accepted a mailbox's first subscription and the worker died before the
 * second (and before anything was recorded); Gmail accepted a watch that was never recorded; a
 * renewal accepted but not recorded; a renewal recorded but its job not marked done; after an
 * outage past expiry, the worker dies before its new subscription reaches Graph, or after a new
 * watch was accepted.
 */
const targeted: TrialPlan[] = [
  { kind: "graph", subscribe: { kind: "push-accepted", n: 3 }, renew: { kind: "push-accepted", n: 4 } },
  {
    kind: "gmail",
    subscribe: { kind: "push-done", n: 1 },
    renew: { kind: "push-accepted", n: 2 },
    late: true,
  },
  { kind: "gmail", subscribe: { kind: "push-accepted", n: 2 }, renew: { kind: "push-done", n: 2 } },
  { kind: "graph", subscribe: { kind: "push-call", n: 2 }, renew: { kind: "push-call", n: 2 }, late: true },
];

/** The sample runs the first two targeted trials (one per provider); the full run all, and random ones. */
const sampleTrials = 2;

/** Random trials beside the targeted ones: none in the sample, `CLIENTMAIL_FAULT_TRIALS` (30) in the full run. */
const randomTrials = fullRun ? crashTrials : 0;

/** Mulberry32. */
function seeded(seed: number): () => number {
  let state = (seed * 2654435761) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Waiting jobs of one name (their payloads), read from graphile-worker's table. */
async function waitingJobs(
  firm: FaultFirm,
  name: string,
): Promise<Array<{ payload: Record<string, unknown> }>> {
  const { rows } = await firm.pool.query<{ payload: Record<string, unknown> }>(
    `SELECT j.payload->'p' AS payload
     FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id
     WHERE t.identifier = $1 AND j.locked_at IS NULL AND j.attempts < j.max_attempts`,
    [name],
  );
  return rows;
}

const pushKinds: readonly PointKind[] = ["push-call", "push-accepted", "push-done"];

describe("fault suite: push registrations and renewals under kill -9", () => {
  let suite: FaultSuite;

  beforeAll(async () => {
    suite = await FaultSuite.open({ imap: false, worker: true });
  }, 240_000);
  afterAll(async () => {
    await suite?.close();
  });

  /**
   * Workers until the firm is in sync: the first killed at `crash` (if it gets there), then clean
   * ones. Returns the runs, and whether the kill happened.
   */
  async function phase(
    firm: FaultFirm,
    backend: Backend,
    time: TrialTime,
    crash: Point,
  ): Promise<{ runs: WorkerResult[]; killed: boolean; synced: boolean }> {
    const runs: WorkerResult[] = [];
    const start = (point: Point | undefined) =>
      suite.startWorker(firm, undefined, {
        http: backend.target,
        crash: point,
        clockSkewMs: time.offset,
        lockTimeoutMs: 1_000,
        leaseTtlMs: 2_000,
        timeoutMs: 60_000,
        engine: { auditIntervalMs: 365 * day },
      }).done;
    runs.push(await start(crash));
    const killed = runs[0]!.exit === "killed";
    for (let i = 0; i < 3 && runs[runs.length - 1]!.exit !== "synced"; i++) {
      const last = runs[runs.length - 1]!;
      if (last.exit === "hung" || last.exit === "stopped" || last.exit === "failed") break;
      runs.push(await start(undefined));
    }
    return { runs, killed, synced: runs[runs.length - 1]!.exit === "synced" };
  }

  /** What is wrong with the firm's registrations now (empty: nothing). */
  async function check(
    firm: FaultFirm,
    backend: Backend,
    time: TrialTime,
    renewedAfter: number,
  ): Promise<string[]> {
    const problems: string[] = [];
    const now = time.clock.now().getTime();
    const renewals = await waitingJobs(firm, "push.renew");
    const recordedIds = new Set<string>();
    for (const label of staffLabels) {
      const address = staffAddresses[label];
      const records = await firm.store.listPushRegistrations(firm.firmId, firm.mailboxIds[label]);
      const live = backend.live(address);
      if (records.length !== backend.perMailbox)
        problems.push(`${label}: ${records.length} registrations recorded, expected ${backend.perMailbox}`);
      const resources = new Set(records.map((r) => r.resource));
      if (resources.size !== records.length) problems.push(`${label}: a registration is recorded twice`);
      for (const record of records) {
        recordedIds.add(record.subscriptionId);
        const expiry = live.get(record.subscriptionId);
        // Lost: not live at the provider, or not renewed (it would lapse within the hour).
        if (!expiry) problems.push(`${label}: ${record.subscriptionId} is not live at the provider`);
        else if (expiry.getTime() < renewedAfter)
          problems.push(
            `${label}: ${record.subscriptionId} was not renewed (expires ${expiry.toISOString()})`,
          );
        if (record.expiresAt.getTime() <= now) problems.push(`${label}: the record says it expired`);
        const waiting = renewals.filter((job) => job.payload.subscriptionId === record.subscriptionId).length;
        if (waiting !== 1)
          problems.push(`${label}: ${waiting} waiting push.renew jobs for ${record.subscriptionId}`);
      }
      if (live.size !== backend.perMailbox)
        problems.push(
          `${label}: ${live.size} live registrations at the provider, expected ${backend.perMailbox}`,
        );
    }
    const orphans = backend.all().filter((r) => !recordedIds.has(r.id));
    if (orphans.length > 0)
      problems.push(`${orphans.length} registrations at the provider that the store does not know (orphans)`);
    const stale = renewals.filter((job) => !recordedIds.has(String(job.payload.subscriptionId)));
    if (stale.length > 0) problems.push(`${stale.length} push.renew jobs for no recorded registration`);
    const failed = await firm.queue.listFailed();
    if (failed.length > 0)
      problems.push(`dead letters: ${failed.map((f) => `${f.name}: ${f.lastError}`).join("; ")}`);
    return problems;
  }

  it("R8 Y2: kill -9 while mailboxes register for push and while they renew loses no registration, leaves no orphan and doubles nothing (Gmail watch, Graph subscriptions)", async () => {
    const started = Date.now();
    const failures: string[] = [];
    let kills = 0;
    const plans: TrialPlan[] = fullRun ? [...targeted] : targeted.slice(0, sampleTrials);
    for (let trial = 0; trial < randomTrials; trial++) {
      const random = seeded(trial + 1);
      const kind = trial % 2 === 0 ? "graph" : "gmail";
      // How often each point is reached in a phase: one registration request per registration
      // (Graph: two per mailbox), one push job per mailbox (subscribe) or registration (renew).
      const requests = kind === "graph" ? 6 : 3;
      const pick = (jobs: number): Point => {
        const point = pushKinds[Math.floor(random() * pushKinds.length)]!;
        return { kind: point, n: 1 + Math.floor(random() * (point === "push-done" ? jobs : requests)) };
      };
      plans.push({ kind, subscribe: pick(3), renew: pick(requests), late: random() < 0.3 });
    }
    for (const [trial, plan] of plans.entries()) {
      const { kind, subscribe: subscribeKill, renew: renewKill, late } = plan;
      const time = new TrialTime();
      const firm = await suite.createFirm(kind);
      const backend = kind === "gmail" ? await gmailBackend(firm, time) : await graphBackend(firm, time);
      const label = `trial ${trial + 1} (${kind}${late ? ", past expiry" : ""})`;
      try {
        const first = await phase(firm, backend, time, subscribeKill);
        if (first.killed) kills += 1;
        else
          failures.push(`${label}: not killed at ${subscribeKill.kind}:${subscribeKill.n} while registering`);
        if (!first.synced) {
          failures.push(
            `${label}: registering never got in sync: ${describeTrial({ ...first, hung: true, crashes: 1, ms: 0 })}`,
          );
          continue;
        }
        const registered = await check(firm, backend, time, 0);
        if (registered.length > 0) failures.push(`${label} after registering: ${registered.join("; ")}`);

        // Half an hour before the registrations expire: their renewals (due an hour before) are
        // late. Or two hours after: they are gone.
        await time.advance(firm, backend.lifetimeMs + (late ? 120 : -30) * minute);
        const second = await phase(firm, backend, time, renewKill);
        if (second.killed) kills += 1;
        else failures.push(`${label}: not killed at ${renewKill.kind}:${renewKill.n} while renewing`);
        if (!second.synced) {
          failures.push(
            `${label}: renewing never got in sync: ${describeTrial({ ...second, hung: true, crashes: 1, ms: 0 })}`,
          );
          continue;
        }
        const renewed = await check(firm, backend, time, time.clock.now().getTime() + backend.lifetimeMs / 2);
        if (renewed.length > 0)
          failures.push(
            `${label} (killed at ${subscribeKill.kind}:${subscribeKill.n}, ${renewKill.kind}:${renewKill.n}): ${renewed.join("; ")}`,
          );
      } finally {
        await backend.close();
        await firm.dispose();
      }
    }
    publish(
      `R8 Y2 push renewals under kill -9: trials=${plans.length} kills=${kills} failures=${failures.length} ms=${Date.now() - started}`,
    );
    expect(failures, failures.join("\n")).toEqual([]);
  }, 900_000);
});
