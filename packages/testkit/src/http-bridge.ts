/**
 * Serves an in-process `fetch` handler (a Gmail or Graph fake) on a real loopback HTTP port, so
 * a provider's real `fetch` talks to it over TCP — and a {@link startTcpProxy} in between can
 * make that connection silent or trickle. Only for tests; listens on 127.0.0.1 only.
 */
import { createServer, type IncomingMessage } from "node:http";
import { Readable } from "node:stream";

/** A running bridge; point the provider's base URLs at `url`. */
export interface HttpBridge {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

async function body(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Starts a bridge that answers every request with `handler(new Request(target(path)))`.
 * `target` maps the request's path and query to the URL the handler expects (e.g.
 * `https://gmail.googleapis.com` + path).
 */
export async function startHttpBridge(
  handler: typeof fetch,
  target: (pathAndQuery: string) => string,
): Promise<HttpBridge> {
  const server = createServer((incoming, outgoing) => {
    void (async () => {
      try {
        const headers = new Headers();
        for (const [name, value] of Object.entries(incoming.headers)) {
          if (value === undefined || name === "host" || name === "connection") continue;
          headers.set(name, Array.isArray(value) ? value.join(", ") : value);
        }
        const payload =
          incoming.method === "GET" || incoming.method === "HEAD" ? undefined : await body(incoming);
        const response = await handler(
          new Request(target(incoming.url ?? "/"), {
            method: incoming.method ?? "GET",
            headers,
            ...(payload === undefined ? {} : { body: payload }),
          }),
        );
        outgoing.writeHead(response.status, Object.fromEntries(response.headers.entries()));
        if (response.body) Readable.fromWeb(response.body as never).pipe(outgoing);
        else outgoing.end();
      } catch {
        outgoing.writeHead(502).end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    host: "127.0.0.1",
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
