/**
 * Test support: a tiny IMAP server on loopback that says exactly what a test needs (no STARTTLS,
 * a refused STARTTLS, TLS 1.1 only, a certificate for some name) and records what the client
 * sent, plus throw-away certificates. It authenticates no password: LOGIN is refused, which is
 * as far as the connection tests need to go. With `xoauth2Tokens` it offers SASL XOAUTH2 and
 * accepts those bearer tokens, answering any other with the error challenge Gmail's IMAP sends
 * (base64 JSON `{"status":"401",...}`) and then `NO [AUTHENTICATIONFAILED]`.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";
import { promisify } from "node:util";

/** Text the server puts in its greeting and answers, which must never reach an error message. */
export const SERVER_INTERNALS = "imap-backend-07.internal.corp ready, build 2.3.19-secret";

/** Options of {@link startScriptedImapServer}. */
export interface ScriptedImapOptions {
  /** Serve TLS from the first byte with these options (key, cert, maxVersion, ...). */
  tls?: TlsOptions | undefined;
  /** Capabilities besides IMAP4rev1 and AUTH=PLAIN, e.g. `["STARTTLS"]`. */
  capabilities?: readonly string[] | undefined;
  /** How STARTTLS is answered when asked: refused (`NO`) by default. */
  startTls?: "refuse" | undefined;
  /** Send no greeting at all (a TLS port heard by a cleartext client looks like this). */
  silent?: boolean | undefined;
  /** Offer AUTH=XOAUTH2 (with SASL-IR) and accept these access tokens. */
  xoauth2Tokens?: ReadonlySet<string> | undefined;
}

/** A running scripted server. */
export interface ScriptedImapServer {
  host: "127.0.0.1";
  port: number;
  /** Every command line received, in order, over every connection. */
  readonly received: string[];
  /** How many connections were accepted. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Starts a scripted IMAP server on 127.0.0.1 and a free port. */
export async function startScriptedImapServer(
  options: ScriptedImapOptions = {},
): Promise<ScriptedImapServer> {
  const received: string[] = [];
  let connections = 0;
  const sockets = new Set<Socket>();
  const capabilities = [
    "IMAP4rev1",
    "AUTH=PLAIN",
    ...(options.xoauth2Tokens ? ["AUTH=XOAUTH2", "SASL-IR"] : []),
    ...(options.capabilities ?? []),
  ].join(" ");
  /** The bearer token of an XOAUTH2 initial response (`user=...^Aauth=Bearer <token>^A^A`). */
  const bearerOf = (response: string) =>
    // eslint-disable-next-line no-control-regex -- XOAUTH2 separates its fields with ^A
    /auth=Bearer ([^\x01]+)/.exec(Buffer.from(response, "base64").toString("utf8"))?.[1];
  const serve = (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    if (!options.silent) socket.write(`* OK [CAPABILITY ${capabilities}] ${SERVER_INTERNALS}\r\n`);
    let buffer = "";
    /** An XOAUTH2 exchange waiting for the client's next line: its initial response, or the empty reply to the error challenge. */
    let pending: { tag: string; stage: "response" | "failed" } | undefined;
    const authenticate = (tag: string, response: string) => {
      const token = bearerOf(response);
      if (token !== undefined && options.xoauth2Tokens?.has(token)) {
        socket.write(`${tag} OK [CAPABILITY IMAP4rev1] authenticated\r\n`);
        return;
      }
      pending = { tag, stage: "failed" };
      const challenge = JSON.stringify({
        status: "401",
        schemes: "bearer",
        scope: "https://mail.google.com/",
      });
      socket.write(`+ ${Buffer.from(challenge).toString("base64")}\r\n`);
    };
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("latin1");
      for (let end = buffer.indexOf("\r\n"); end !== -1; end = buffer.indexOf("\r\n")) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        received.push(line);
        if (pending) {
          const waiting = pending;
          pending = undefined;
          if (waiting.stage === "response") authenticate(waiting.tag, line);
          else socket.write(`${waiting.tag} NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n`);
          continue;
        }
        const [tag = "*", command = "", mechanism = "", initial] = line.split(" ");
        if (
          command.toUpperCase() === "AUTHENTICATE" &&
          mechanism.toUpperCase() === "XOAUTH2" &&
          options.xoauth2Tokens
        ) {
          if (initial === undefined) {
            pending = { tag, stage: "response" };
            socket.write("+ \r\n");
          } else authenticate(tag, initial);
          continue;
        }
        switch (command.toUpperCase()) {
          case "CAPABILITY":
            socket.write(`* CAPABILITY ${capabilities}\r\n${tag} OK done\r\n`);
            break;
          case "ID":
            socket.write(`* ID NIL\r\n${tag} OK done\r\n`);
            break;
          case "STARTTLS":
            socket.write(`${tag} NO [UNAVAILABLE] ${SERVER_INTERNALS}\r\n`);
            break;
          case "LOGIN":
          case "AUTHENTICATE":
            socket.write(`${tag} NO [AUTHENTICATIONFAILED] ${SERVER_INTERNALS}\r\n`);
            break;
          case "LOGOUT":
            socket.end(`* BYE bye\r\n${tag} OK done\r\n`);
            break;
          default:
            socket.write(`${tag} BAD ${SERVER_INTERNALS}\r\n`);
        }
      }
    });
  };
  const server: Server =
    options.tls === undefined ? createTcpServer(serve) : createTlsServer(options.tls, serve);
  server.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    host: "127.0.0.1",
    port,
    received,
    get connections() {
      return connections;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A self-signed certificate (and its key) for `name`, made with openssl in a temp directory. */
export async function selfSignedCertificate(name: string): Promise<{ key: Buffer; cert: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), "cm-cert-"));
  try {
    await promisify(execFile)("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      `/CN=${name}`,
      "-addext",
      `subjectAltName=DNS:${name}`,
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ]);
    return { key: await readFile(join(dir, "key.pem")), cert: await readFile(join(dir, "cert.pem")) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
