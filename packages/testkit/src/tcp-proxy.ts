/**
 * A loopback TCP proxy that tests put between a client and a real server to break connections
 * on purpose: at once, in the middle of a response once a number of bytes has flowed, by going
 * silent (a half-open peer), or by trickling the server's bytes a few at a time.
 */
import { createConnection, createServer, type Socket } from "node:net";

/** Where {@link startTcpProxy} forwards to. */
export interface TcpProxyTarget {
  host: string;
  port: number;
}

/** Options of {@link TcpProxy.trickle}. */
export interface TrickleOptions {
  /** Server-to-client bytes delivered per tick (per connection). */
  bytes: number;
  /** Milliseconds between ticks. */
  everyMs: number;
}

/** A running proxy; connect clients to `host`:`port`. */
export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** Connections currently open through the proxy. */
  readonly openConnections: number;
  /** Connections accepted since the proxy started. */
  readonly totalConnections: number;
  /** Destroys every open connection, both sides, without a goodbye (like a dropped network). */
  cutAll(): void;
  /**
   * Arms a cut: every connection open now, or opened later, is destroyed once `bytes` more bytes
   * have gone from the server to the client after this call. The cut fires once; call again to re-arm.
   * Resolves when it has fired.
   */
  cutAfterServerBytes(bytes: number): Promise<void>;
  /** Refuses to forward new connections while `true` (they are closed at once). */
  setRefusing(refusing: boolean): void;
  /**
   * Stops forwarding in both directions and keeps every socket open, for open and new
   * connections alike: the client sees a half-open peer (no FIN, no data; a new connection is
   * accepted but never greeted). Nothing is lost: what was in flight is delivered after
   * {@link pass}.
   */
  blackhole(): void;
  /**
   * Delivers the server's bytes to the client `options.bytes` at a time every `options.everyMs`
   * milliseconds, on open and new connections; the client's bytes still flow normally. A server
   * that trickles keeps a socket busy, so an inactivity timeout never fires.
   */
  trickle(options: TrickleOptions): void;
  /** Back to normal forwarding: anything held back by {@link blackhole} or {@link trickle} is delivered. */
  pass(): void;
  /** Stops listening and cuts every connection. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link startTcpProxy}. */
export interface TcpProxyOptions {
  /** Sees every chunk as it passes (e.g. to count the commands a client sends). */
  tap?: ((direction: "client-to-server" | "server-to-client", chunk: Buffer) => void) | undefined;
}

type Mode = { kind: "pass" } | { kind: "blackhole" } | { kind: "trickle"; bytes: number; everyMs: number };

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Server-to-client bytes held back (blackhole, trickle). */
  held: Buffer[];
  heldBytes: number;
}

/** Above this much held back per connection, the proxy stops reading from the server. */
const holdLimit = 256 * 1024;

/** Starts a proxy on a random free loopback port forwarding to `target`. */
export async function startTcpProxy(
  target: TcpProxyTarget,
  options: TcpProxyOptions = {},
): Promise<TcpProxy> {
  const { tap } = options;
  const pairs = new Set<Pair>();
  let total = 0;
  let refusing = false;
  let mode: Mode = { kind: "pass" };
  let ticker: NodeJS.Timeout | undefined;
  let armed: { remaining: number; fire: () => void } | undefined;

  const cut = (pair: Pair) => {
    pair.client.destroy();
    pair.upstream.destroy();
    pairs.delete(pair);
  };

  /** Writes up to `limit` held bytes to the client. */
  const release = (pair: Pair, limit: number) => {
    let left = limit;
    while (left > 0 && pair.held.length > 0) {
      const head = pair.held[0]!;
      const part = head.length <= left ? head : head.subarray(0, left);
      if (part === head) pair.held.shift();
      else pair.held[0] = head.subarray(left);
      pair.heldBytes -= part.length;
      left -= part.length;
      pair.client.write(part);
    }
    if (pair.heldBytes < holdLimit && mode.kind !== "blackhole") pair.upstream.resume();
  };

  const applyMode = (pair: Pair) => {
    if (mode.kind === "blackhole") {
      pair.upstream.pause();
      pair.client.pause();
      return;
    }
    pair.client.resume();
    if (mode.kind === "pass") release(pair, Number.POSITIVE_INFINITY);
    else if (pair.heldBytes < holdLimit) pair.upstream.resume();
  };

  const setMode = (next: Mode) => {
    mode = next;
    if (ticker) clearInterval(ticker);
    ticker = undefined;
    if (next.kind === "trickle") {
      ticker = setInterval(() => {
        for (const pair of pairs) release(pair, next.bytes);
      }, next.everyMs);
      ticker.unref();
    }
    for (const pair of pairs) applyMode(pair);
  };

  const toClient = (pair: Pair, chunk: Buffer) => {
    if (mode.kind === "pass" && pair.held.length === 0) {
      pair.client.write(chunk);
      return;
    }
    pair.held.push(chunk);
    pair.heldBytes += chunk.length;
    if (pair.heldBytes >= holdLimit) pair.upstream.pause();
  };

  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    total++;
    client.setNoDelay(true);
    const upstream = createConnection({ host: target.host, port: target.port });
    upstream.setNoDelay(true);
    const pair: Pair = { client, upstream, held: [], heldBytes: 0 };
    pairs.add(pair);
    upstream.on("data", (chunk: Buffer) => {
      tap?.("server-to-client", chunk);
      if (armed) {
        if (chunk.length >= armed.remaining) {
          const partial = chunk.subarray(0, armed.remaining);
          const fire = armed.fire;
          armed = undefined;
          client.write(partial, () => {
            for (const p of [...pairs]) cut(p);
            fire();
          });
          return;
        }
        armed.remaining -= chunk.length;
      }
      toClient(pair, chunk);
    });
    client.on("data", (chunk: Buffer) => {
      tap?.("client-to-server", chunk);
      upstream.write(chunk);
    });
    const end = () => cut(pair);
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
    applyMode(pair);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("TCP proxy did not get a port");
  let closed = false;

  return {
    host: "127.0.0.1",
    port: address.port,
    get openConnections() {
      return pairs.size;
    },
    get totalConnections() {
      return total;
    },
    cutAll() {
      for (const pair of [...pairs]) cut(pair);
    },
    cutAfterServerBytes(bytes) {
      return new Promise<void>((resolve) => {
        armed = { remaining: Math.max(0, bytes), fire: resolve };
      });
    },
    setRefusing(value) {
      refusing = value;
    },
    blackhole() {
      setMode({ kind: "blackhole" });
    },
    trickle({ bytes, everyMs }) {
      if (!Number.isInteger(bytes) || bytes < 1 || !(everyMs > 0))
        throw new RangeError("trickle needs bytes >= 1 and everyMs > 0");
      setMode({ kind: "trickle", bytes, everyMs });
    },
    pass() {
      setMode({ kind: "pass" });
    },
    async close() {
      if (closed) return;
      closed = true;
      if (ticker) clearInterval(ticker);
      for (const pair of [...pairs]) cut(pair);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
