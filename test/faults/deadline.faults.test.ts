/**
 * R3: a server that goes silent (a half-open connection: no FIN, no data) or trickles a byte now
 * and then must not hold a sync pass: the pass ends as `transient` within the configured deadline,
 * commits nothing partial, and the next pass, once the network behaves, completes — with the firm
 * ending exactly as a fault-free run.
 */
import { createConnection, createServer, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTcpProxy, type TcpProxy, type TcpProxyTarget } from "@clientmail/testkit";
import { generateCorpus } from "./corpus.js";
import { addTrial, compareDigests, emptyTotals, summaryLine, type FaultDigest } from "./digest.js";
import {
  deadlines,
  deadlineSettings,
  describeTrial,
  dovecotSkipReason,
  FaultSuite,
  publish,
  scale,
  type LoadedCorpus,
  type WorkerResult,
} from "./harness.js";
import type { PointKind } from "./worker-protocol.js";

/** The proxy modes this case needs; `@clientmail/testkit`'s `TcpProxy` is gaining exactly these. */
interface ProxyModes {
  /** Stops forwarding both ways; sockets stay open (a half-open connection). */
  blackhole(): void;
  /** Forwards server data `bytes` at a time every `everyMs`. */
  trickle(options: { bytes: number; everyMs: number }): void;
  /** Forwards normally again. */
  pass(): void;
}

type ModalProxy = Pick<TcpProxy, "host" | "port" | "close"> & ProxyModes;

async function startModalProxy(target: TcpProxyTarget): Promise<ModalProxy> {
  const proxy = await startTcpProxy(target);
  const candidate = proxy as TcpProxy & Partial<ProxyModes>;
  if (
    typeof candidate.blackhole === "function" &&
    typeof candidate.trickle === "function" &&
    typeof candidate.pass === "function"
  )
    return candidate;
  await proxy.close();
  return startShimProxy(target);
}

// ---- DELETE FROM HERE once @clientmail/testkit's TcpProxy has blackhole(), trickle() and pass() ----
/** A stand-in with the same three modes, for as long as the testkit's proxy lacks them. */
async function startShimProxy(target: TcpProxyTarget): Promise<ModalProxy> {
  let mode: { kind: "pass" } | { kind: "blackhole" } | { kind: "trickle"; bytes: number; everyMs: number } = {
    kind: "pass",
  };
  const pairs = new Set<{ client: Socket; upstream: Socket; queue: Buffer[]; timer?: NodeJS.Timeout }>();
  const pump = (pair: { client: Socket; queue: Buffer[]; timer?: NodeJS.Timeout }) => {
    if (mode.kind === "pass") {
      for (const chunk of pair.queue.splice(0)) pair.client.write(chunk);
      return;
    }
    if (mode.kind !== "trickle" || pair.timer) return;
    const { bytes, everyMs } = mode;
    pair.timer = setInterval(() => {
      const head = pair.queue[0];
      if (!head) return;
      pair.client.write(head.subarray(0, bytes));
      if (head.length <= bytes) pair.queue.shift();
      else pair.queue[0] = head.subarray(bytes);
    }, everyMs);
  };
  const server = createServer((client) => {
    const upstream = createConnection(target);
    const pair = { client, upstream, queue: [] as Buffer[], timer: undefined as NodeJS.Timeout | undefined };
    pairs.add(pair);
    upstream.on("data", (chunk: Buffer) => {
      if (mode.kind === "blackhole") return;
      pair.queue.push(chunk);
      pump(pair);
    });
    client.on("data", (chunk: Buffer) => {
      if (mode.kind !== "blackhole") upstream.write(chunk);
    });
    const end = () => {
      clearInterval(pair.timer);
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    for (const socket of [client, upstream]) {
      socket.on("error", end);
      socket.on("close", end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("shim proxy has no port");
  const setMode = (next: typeof mode) => {
    mode = next;
    for (const pair of pairs) {
      clearInterval(pair.timer);
      pair.timer = undefined;
      pump(pair);
    }
  };
  return {
    host: "127.0.0.1",
    port: address.port,
    blackhole: () => setMode({ kind: "blackhole" }),
    trickle: ({ bytes, everyMs }) => setMode({ kind: "trickle", bytes, everyMs }),
    pass: () => setMode({ kind: "pass" }),
    close: async () => {
      for (const pair of pairs) {
        clearInterval(pair.timer);
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
// ---- DELETE TO HERE ----

const skip = dovecotSkipReason();

/** A pass must have ended by then: the pass deadline, one operation's deadline, and slack for a loaded machine. */
const passBoundMs = deadlines.passMs + deadlines.operationMs + 5_000;

interface Stall {
  name: string;
  apply(proxy: ModalProxy): void;
  /** Where in the pass the stall starts; undefined: before the pass (at connect). */
  at?: { kind: PointKind; n: number };
}

const blackhole: Stall = {
  name: "half-open mid-fetch",
  apply: (p) => p.blackhole(),
  at: { kind: "fetch", n: 3 },
};
const trickle: Stall = {
  name: "trickle mid-fetch",
  apply: (p) => p.trickle({ bytes: 1, everyMs: 500 }),
  at: { kind: "fetch", n: 3 },
};

describe.skipIf(skip !== undefined)(`fault suite: deadlines${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let suite: FaultSuite;
  let loaded: LoadedCorpus;
  let baseline: FaultDigest;
  beforeAll(async () => {
    suite = await FaultSuite.open();
    ({ loaded, baseline } = await suite.sharedBaseCorpus(generateCorpus));
  }, 240_000);
  afterAll(async () => {
    await suite?.close();
  });

  async function stallCase(caseName: string, stalls: readonly Stall[]): Promise<void> {
    const started = Date.now();
    const totals = emptyTotals();
    const failures: string[] = [];
    for (const stall of stalls) {
      const proxy = await startModalProxy(loaded.server);
      const firm = await suite.createFirm();
      try {
        if (!stall.at) stall.apply(proxy);
        let applied = !stall.at;
        const stalled: WorkerResult = await suite.startWorker(firm, loaded, {
          ...deadlineSettings(),
          target: proxy,
          mode: "once",
          only: ["ann"],
          timeoutMs: passBoundMs + 3_000,
          onLine: (line) => {
            if (!applied && line.t === "point" && line.kind === stall.at!.kind && line.n === stall.at!.n) {
              applied = true;
              stall.apply(proxy);
            }
          },
        }).done;
        const pass = stalled.passes[0];
        const endedInTime =
          stalled.exit !== "hung" &&
          pass?.outcome === "error" &&
          pass.code === "transient" &&
          pass.ms <= passBoundMs;
        proxy.pass();
        const outcome = await suite.runTrial(firm, loaded, { ...deadlineSettings(), target: proxy });
        const diff = compareDigests(baseline, await suite.digest(firm, loaded));
        const hung = !endedInTime || outcome.hung;
        addTrial(totals, diff, hung);
        if (!applied) failures.push(`${stall.name}: the stall never started (the pass ended first)`);
        else if (hung || diff.details.length > 0)
          failures.push(
            `${stall.name}: stalled pass ${stalled.exit}${stalled.exit === "hung" && stalled.closing ? " while closing the provider after the pass ended (R3: close has a deadline too)" : ""}, ${pass ? `${pass.outcome}${pass.code ? `(${pass.code})` : ""} after ${(pass.ms / 1000).toFixed(1)} s` : "no pass reported"} (bound ${(passBoundMs / 1000).toFixed(0)} s); next: ${describeTrial(outcome)}\n  ${diff.details.slice(0, 8).join("\n  ")}`,
          );
      } finally {
        await proxy.close();
        await firm.documents.remove();
      }
    }
    publish(
      summaryLine(
        caseName,
        totals,
        Date.now() - started,
        `deadline=${deadlines.operationMs}ms/op ${deadlines.passMs}ms/pass`,
      ),
    );
    expect(failures, failures.join("\n")).toEqual([]);
  }

  it("R3: a half-open connection (no FIN, no data) ends the pass as transient within the deadline, and the next pass completes", async () => {
    await stallCase(
      "R3 half-open connection",
      scale(
        [blackhole],
        [
          { name: "half-open at connect", apply: (p) => p.blackhole() },
          { name: "half-open after the first page", apply: (p) => p.blackhole(), at: { kind: "page", n: 1 } },
          blackhole,
        ],
      ),
    );
  }, 300_000);

  it("R3: a server trickling a byte every half second ends the pass as transient within the deadline, and the next pass completes", async () => {
    await stallCase(
      "R3 trickling server",
      scale(
        [trickle],
        [
          { name: "trickle at connect", apply: (p) => p.trickle({ bytes: 1, everyMs: 500 }) },
          trickle,
          {
            name: "trickle of 64 bytes every 200 ms mid-fetch",
            apply: (p) => p.trickle({ bytes: 64, everyMs: 200 }),
            at: { kind: "fetch", n: 10 },
          },
        ],
      ),
    );
  }, 300_000);
});
