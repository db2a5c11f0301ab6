/**
 * T2 T4 R8: invitation events survive kill -9. A worker process changes three links' login
 * through the facade wired to the queue (turning it on invites, turning it off withdraws the
 * invitation), one transaction each, then takes jobs; its invitations handler acts as a host that
 * sends each email once, by the event's type and token (see `WorkerConfig.invitations`). The
 * worker is killed after some of the changes committed, as the host's handler is called, or after
 * it sent an email but before the queue recorded the job; fresh workers carry on. Every
 * invitation the store holds as pending must have been sent exactly once, every withdrawn one
 * withdrawn exactly once, and nothing else sent (no email for an invitation withdrawn before it
 * went out).
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gmailBackend, TrialTime } from "./bridged-fakes.js";
import { describeTrial, FaultSuite, publish, scale, type FaultFirm } from "./harness.js";
import type { Point } from "./worker-protocol.js";

const fileOf = (type: string, token: string) =>
  `${type}-${createHash("sha256").update(token).digest("hex").slice(0, 32)}`;

describe("fault suite: invitation events under kill -9", () => {
  let suite: FaultSuite;

  beforeAll(async () => {
    suite = await FaultSuite.open({ imap: false, worker: true });
  }, 240_000);
  afterAll(async () => {
    await suite?.close();
  });

  /** Three links without login, and the changes the first worker makes to them. */
  async function toggles(firm: FaultFirm) {
    const links = (await firm.store.listLinks(firm.firmId)).filter((l) => !l.login && !l.unlinkedAt);
    const [a, b, c] = links;
    if (!a || !b || !c) throw new Error("the end-to-end firm has fewer than three links without login");
    return {
      linkIds: [a.id, b.id, c.id],
      toggles: [
        { linkId: a.id, login: true },
        { linkId: b.id, login: true },
        { linkId: c.id, login: true },
        { linkId: b.id, login: false },
      ],
    };
  }

  it("T2 T4 R8: kill -9 after the facade committed, as the host is called, or after it sent an email loses no invitation and sends none twice", async () => {
    const started = Date.now();
    const kills: Point[] = scale(
      [
        { kind: "enqueued", n: 2 },
        { kind: "invitation-sent", n: 1 },
      ],
      [
        // Two of the four changes committed (their jobs with them); the worker dies before the rest.
        { kind: "enqueued", n: 2 },
        // Every change committed, no job taken yet.
        { kind: "enqueued", n: 4 },
        { kind: "invitation-start", n: 2 },
        // The host sent the email; the queue has not recorded the job as done.
        { kind: "invitation-sent", n: 1 },
        { kind: "invitation-sent", n: 3 },
      ],
    );
    const failures: string[] = [];
    let redeliveries = 0;
    let sent = 0;
    for (const kill of kills) {
      const time = new TrialTime();
      const firm = await suite.createFirm("gmail");
      const backend = await gmailBackend(firm, time);
      const dir = await mkdtemp(join(tmpdir(), "clientmail-invitations-"));
      try {
        const plan = await toggles(firm);
        const runs = [];
        const start = (crash: Point | undefined, first: boolean) =>
          suite.startWorker(firm, undefined, {
            http: backend.target,
            crash,
            lockTimeoutMs: 1_000,
            leaseTtlMs: 2_000,
            timeoutMs: 60_000,
            invitations: { dir, toggles: first ? plan.toggles : [] },
          }).done;
        runs.push(await start(kill, true));
        for (let i = 0; i < 3 && runs[runs.length - 1]!.exit !== "synced"; i++)
          runs.push(await start(undefined, false));
        const label = `${kill.kind}:${kill.n}`;
        const trial = describeTrial({ synced: false, hung: false, runs, crashes: 0, ms: 0 });
        if (runs[0]!.exit !== "killed") failures.push(`${label}: the worker was not killed there (${trial})`);
        if (runs[runs.length - 1]!.exit !== "synced") {
          failures.push(`${label}: never got in sync: ${trial}`);
          continue;
        }
        // What the store says must have gone out.
        const expected = new Set<string>();
        for (const linkId of plan.linkIds) {
          const invitation = (await firm.store.getLink(firm.firmId, linkId))?.invitation;
          if (invitation?.status === "pending")
            expected.add(fileOf("invitation.requested", invitation.token));
          if (invitation?.status === "invalidated")
            expected.add(fileOf("invitation.invalidated", invitation.token));
        }
        const files = (await readdir(dir)).filter((name) => name.startsWith("invitation."));
        const deliveries = (await readFile(join(dir, "deliveries.log"), "utf8").catch(() => ""))
          .split("\n")
          .filter((line) => line !== "");
        const lost = [...expected].filter((name) => !files.includes(name));
        const extra = files.filter((name) => !expected.has(name));
        redeliveries += deliveries.length - new Set(deliveries).size;
        sent += files.length;
        if (expected.size === 0) failures.push(`${label}: no invitation was committed at all`);
        if (lost.length > 0 || extra.length > 0)
          failures.push(`${label}: lost ${lost.length}, sent without cause ${extra.length}; ${trial}`);
        const failed = await firm.queue.listFailed();
        if (failed.length > 0)
          failures.push(`${label}: dead letters ${failed.map((f) => f.name).join(", ")}`);
      } finally {
        await backend.close();
        await firm.dispose();
        await rm(dir, { recursive: true, force: true });
      }
    }
    publish(
      `T2 T4 R8 invitation events under kill -9: trials=${kills.length} sent=${sent} redelivered=${redeliveries} (each sent once) failures=${failures.length} ms=${Date.now() - started}`,
    );
    expect(failures, failures.join("\n")).toEqual([]);
  }, 900_000);
});
