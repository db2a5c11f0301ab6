/**
 * A loopback TCP proxy that tests put between a client and a real server to break connections
 * on purpose: at once, or in the middle of a response once a number of bytes has flowed.
 */
import { createConnection, createServer, type Socket } from "node:net";

/** Where {@link startTcpProxy} forwards to. */
export interface TcpProxyTarget {
  host: string;
  port: number;
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
  /** Stops listening and cuts every connection. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link startTcpProxy}. */
export interface TcpProxyOptions {
  /** Sees every chunk as it passes (e.g. to count the commands a client sends). */
  tap?: ((direction: "client-to-server" | "server-to-client", chunk: Buffer) => void) | undefined;
}

/** Starts a proxy on a random free loopback port forwarding to `target`. */
export async function startTcpProxy(
  target: TcpProxyTarget,
  options: TcpProxyOptions = {},
): Promise<TcpProxy> {
  const { tap } = options;
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let total = 0;
  let refusing = false;
  let armed: { remaining: number; fire: () => void } | undefined;

  const cut = (pair: { client: Socket; upstream: Socket }) => {
    pair.client.destroy();
    pair.upstream.destroy();
    pairs.delete(pair);
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
    const pair = { client, upstream };
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
      client.write(chunk);
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
    async close() {
      if (closed) return;
      closed = true;
      for (const pair of [...pairs]) cut(pair);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
