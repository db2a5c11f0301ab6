/**
 * R9 for IMAP: where connections go, how they are secured, and what their failures say.
 *
 * Every socket in this file goes to 127.0.0.1. Refused destinations are proven refused with an
 * injected resolver and a socket factory that records each dial and throws on anything but
 * loopback: a refusal must happen before the factory is ever called. Where a test needs a
 * "remote" server, the resolver names a public address and the factory dials a loopback server
 * instead; the public address is never dialled.
 */
import { connect as connectTls, type ConnectionOptions } from "node:tls";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ConnectionError, ValidationError } from "@clientmail/core";
import type { Logger, MailProvider } from "@clientmail/core/ports";
import {
  nodeSocketFactory,
  type HostResolver,
  type SocketFactory,
  type SocketOpenOptions,
} from "@clientmail/provider-utils";
import { loopbackHostPolicy, startTcpProxy, type DovecotServer } from "@clientmail/testkit";
import { createImapProvider, type ImapProviderSettings } from "../src/index.js";
import { dovecotSkipReason, providerSettings, sharedDovecot } from "./dovecot-fixture.js";
import {
  SERVER_INTERNALS,
  selfSignedCertificate,
  startScriptedImapServer,
  type ScriptedImapServer,
} from "./scripted-imap-server.js";

const PASSWORD = "pw-that-must-never-travel-in-clear";
const publicAddress = "93.184.215.14";

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

async function firstPage(provider: MailProvider): Promise<unknown> {
  for await (const page of provider.changes(undefined)) return page;
  return undefined;
}

/** A resolver answering from a table and counting its calls; `answers` may change between calls. */
function fakeDns(table: Record<string, readonly string[] | ((call: number) => readonly string[])>) {
  const calls: string[] = [];
  const resolve: HostResolver = async (name) => {
    calls.push(name);
    const entry = table[name];
    if (entry === undefined)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" });
    const answers = typeof entry === "function" ? entry(calls.filter((c) => c === name).length) : entry;
    return answers.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return { resolve, calls };
}

/**
 * A socket factory that records every dial. It dials loopback addresses as asked and, when
 * `redirectTo` is set, sends any other (already vetted) address to that loopback port instead;
 * without it, a dial to anything but loopback fails the test.
 */
function recordingFactory(options: { redirectTo?: number; tls?: Partial<ConnectionOptions> } = {}) {
  const dials: SocketOpenOptions[] = [];
  const factory: SocketFactory = (open, onConnect) => {
    dials.push(open);
    const loopback = open.address === "127.0.0.1" || open.address === "::1";
    if (!loopback && options.redirectTo === undefined) {
      throw new Error(`test invariant: a dial to ${open.address} reached the socket factory`);
    }
    const target = loopback
      ? open
      : { ...open, address: "127.0.0.1", family: 4 as const, port: options.redirectTo! };
    const tls = open.tls === undefined ? undefined : { ...open.tls, ...options.tls };
    return nodeSocketFactory({ ...target, tls }, onConnect);
  };
  return { factory, dials };
}

function recordingLogger() {
  const warnings: { message: string; fields: Record<string, unknown> | undefined }[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (message, fields) => warnings.push({ message, fields }),
    error: () => undefined,
  };
  return { logger, warnings };
}

function base(extra: Partial<ImapProviderSettings>): ImapProviderSettings {
  return { host: "127.0.0.1", user: "ann@firm.example", password: PASSWORD, ...extra };
}

/** Asserts a ConnectionError with this reason (and hint), whose message and details hold no server text. */
function expectConnectionError(
  error: unknown,
  reason: ConnectionError["reason"],
  hint?: ConnectionError["hint"],
): ConnectionError {
  expect(ConnectionError.isInstance(error), String(error)).toBe(true);
  const connection = error as ConnectionError;
  expect([connection.reason, connection.hint]).toEqual([reason, hint]);
  const visible = `${connection.message} ${JSON.stringify(connection.details)}`;
  expect(visible).not.toContain(SERVER_INTERNALS);
  expect(visible).not.toContain(PASSWORD);
  expect(visible).not.toMatch(/ECONN|ERR_SSL|ERR_TLS|getaddrinfo|127\.0\.0\.1:\d/);
  return connection;
}

describe("R9: IMAP destinations are vetted before any connection", () => {
  const refused: [string, string, readonly string[] | undefined][] = [
    ["127.0.0.1", "loopback", undefined],
    ["169.254.169.254", "metadata", undefined],
    ["::ffff:169.254.169.254", "metadata", undefined],
    ["fd00:ec2::254", "metadata", undefined],
    ["100.100.100.200", "metadata", undefined],
    ["100.64.1.1", "shared", undefined],
    ["10.0.0.7", "private", undefined],
    ["fe80::1", "link_local", undefined],
    ["0.0.0.0", "unspecified", undefined],
    ["mixed.example.test", "private", [publicAddress, "192.168.0.10"]],
    ["mapped.example.test", "loopback", ["::ffff:127.0.0.1"]],
    ["nat64.example.test", "metadata", ["64:ff9b::a9fe:a9fe"]],
  ];

  it.each(refused)(
    "R9: %s is refused (%s) by the default policy; nothing is dialled, for sync and for watch",
    async (host, kind, answers) => {
      const dns = fakeDns(answers === undefined ? {} : { [host]: answers });
      const { factory, dials } = recordingFactory();
      const provider = createImapProvider(
        base({ host, hostPolicy: { resolve: dns.resolve }, socketFactory: factory }),
      );
      try {
        const started = Date.now();
        const error = expectConnectionError(await failureOf(firstPage(provider)), "host_refused");
        expect(Date.now() - started).toBeLessThan(1000);
        expect([error.code, error.retryable, error.details.refused]).toEqual([
          "permission_denied",
          false,
          kind,
        ]);
        expect(await failureOf(provider.watch(() => undefined))).toMatchObject({ reason: "host_refused" });
        expect(dials).toEqual([]);
        expect(dns.calls.length).toBe(answers === undefined ? 0 : 2);
      } finally {
        await provider.close();
      }
    },
  );

  it("R9: a port other than 993 and 143 is refused without a DNS query unless the host allows it", async () => {
    const dns = fakeDns({ "mail.example.test": [publicAddress] });
    const { factory, dials } = recordingFactory();
    const provider = createImapProvider(
      base({
        host: "mail.example.test",
        port: 6379,
        hostPolicy: { resolve: dns.resolve },
        socketFactory: factory,
      }),
    );
    const error = expectConnectionError(await failureOf(firstPage(provider)), "host_refused");
    expect(error.details.refused).toBe("port");
    expect([dns.calls, dials]).toEqual([[], []]);
    await provider.close();
  });

  it("R9: cleartext to a remote host and unverified certificates need allowInsecure, named in the settings error", () => {
    let error: unknown;
    try {
      createImapProvider(
        base({ host: "imap.example.com", security: "none", tls: { rejectUnauthorized: false } }),
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((issue) => issue.field)).toEqual([
      "security",
      "tls.rejectUnauthorized",
    ]);
    expect(() => createImapProvider(base({ allowInsecure: "yes" as never }))).toThrow(/allowInsecure/);
    for (const host of ["127.0.0.1", "::1", "localhost"]) {
      expect(() => createImapProvider(base({ host, security: "none" }))).not.toThrow();
    }
    expect(() =>
      createImapProvider(
        base({
          host: "imap.example.com",
          security: "none",
          tls: { rejectUnauthorized: false },
          allowInsecure: true,
        }),
      ),
    ).not.toThrow();
  });

  it("R9: cleartext to `localhost` that resolves to a remote address is refused at connect time", async () => {
    const dns = fakeDns({ localhost: [publicAddress] });
    const { factory, dials } = recordingFactory();
    const provider = createImapProvider(
      base({
        host: "localhost",
        security: "none",
        hostPolicy: { resolve: dns.resolve },
        socketFactory: factory,
      }),
    );
    const error = expectConnectionError(await failureOf(firstPage(provider)), "host_refused");
    expect(error.details.refused).toBe("cleartext");
    expect(dials).toEqual([]);
    await provider.close();
  });

  it("R9: the host's settings are validated, naming each bad host-policy field", () => {
    let error: unknown;
    try {
      createImapProvider(
        base({ host: "127.1", hostPolicy: { allow: ["10.0.0.0/40", "127.0.0.1/32"], allowPorts: [0] } }),
      );
    } catch (e) {
      error = e;
    }
    expect((error as ValidationError).issues.map((issue) => issue.field)).toEqual([
      "host",
      "hostPolicy.allow.0",
      "hostPolicy.allowPorts.0",
    ]);
  });
});

describe("R9: TLS to loopback servers", () => {
  const servers: ScriptedImapServer[] = [];
  const providers: MailProvider[] = [];
  const track = (provider: MailProvider) => (providers.push(provider), provider);
  afterAll(async () => {
    await Promise.all(providers.map((provider) => provider.close()));
    await Promise.all(servers.map((server) => server.close()));
  });
  async function server(options: Parameters<typeof startScriptedImapServer>[0]) {
    const started = await startScriptedImapServer(options);
    servers.push(started);
    return started;
  }

  it("R9: the certificate is checked against the host name while the socket goes to the vetted IP, TLS 1.2 at least", async () => {
    const certificate = await selfSignedCertificate("mail.example.test");
    const tlsServer = await server({ tls: certificate });
    const dns = fakeDns({ "mail.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"] });
    const { factory, dials } = recordingFactory();
    const settings = (host: string) =>
      base({
        host,
        port: tlsServer.port,
        tls: { ca: certificate.cert },
        hostPolicy: { allow: ["127.0.0.1/32"], resolve: dns.resolve },
        socketFactory: factory,
      });
    // The handshake verified: the server got as far as refusing the login.
    const refusedLogin = expectConnectionError(
      await failureOf(firstPage(track(createImapProvider(settings("mail.example.test"))))),
      "auth_failed",
    );
    expect([refusedLogin.code, refusedLogin.retryable]).toEqual(["auth_revoked", false]);
    expect(dials).toHaveLength(1);
    expect(dials[0]).toMatchObject({
      address: "127.0.0.1",
      port: tlsServer.port,
      tls: { servername: "mail.example.test", minVersion: "TLSv1.2", rejectUnauthorized: true },
    });
    // Same address, another name: the certificate does not match it.
    const mismatch = expectConnectionError(
      await failureOf(firstPage(track(createImapProvider(settings("other.example.test"))))),
      "tls_failed",
    );
    expect([mismatch.code, mismatch.retryable]).toEqual(["mailbox_unavailable", false]);
  });

  it("R9: an unverifiable certificate is tls_failed; allowInsecure with rejectUnauthorized: false connects and warns once per connection", async () => {
    const tlsServer = await server({ tls: await selfSignedCertificate("localhost") });
    const strict = track(
      createImapProvider(base({ port: tlsServer.port, hostPolicy: loopbackHostPolicy, security: "tls" })),
    );
    const error = expectConnectionError(await failureOf(firstPage(strict)), "tls_failed");
    expect([error.code, error.retryable]).toEqual(["mailbox_unavailable", false]);
    expect(tlsServer.received).toEqual([]);

    const { logger, warnings } = recordingLogger();
    const lax = track(
      createImapProvider(
        base({
          port: tlsServer.port,
          hostPolicy: loopbackHostPolicy,
          tls: { rejectUnauthorized: false },
          allowInsecure: true,
          logger,
        }),
      ),
    );
    expectConnectionError(await failureOf(firstPage(lax)), "auth_failed");
    expectConnectionError(await failureOf(firstPage(lax)), "auth_failed");
    const insecure = warnings.filter((w) => w.fields?.insecure !== undefined);
    expect(insecure).toHaveLength(2);
    expect(insecure[0]!.fields).toEqual({
      provider: "imap",
      host: "127.0.0.1",
      port: tlsServer.port,
      insecure: ["unverified_certificate"],
    });
    expect(JSON.stringify(warnings)).not.toContain(PASSWORD);
  });

  it("R9: a server that only speaks TLS 1.1 is refused even where the process would allow it", async () => {
    const certificate = await selfSignedCertificate("localhost");
    const weak = { ciphers: "DEFAULT@SECLEVEL=0" };
    const oldServer = await server({
      tls: { ...certificate, minVersion: "TLSv1", maxVersion: "TLSv1.1", ...weak },
    });
    // The server works for a client that accepts TLS 1.1.
    const protocol = await new Promise<string | null>((resolve, reject) => {
      const socket = connectTls(
        { host: "127.0.0.1", port: oldServer.port, rejectUnauthorized: false, minVersion: "TLSv1", ...weak },
        () => {
          resolve(socket.getProtocol());
          socket.destroy();
        },
      );
      socket.on("error", reject);
    });
    expect(protocol).toBe("TLSv1.1");
    // The provider, even through a factory that weakens everything but the version floor.
    const { factory } = recordingFactory({ tls: weak });
    const provider = track(
      createImapProvider(
        base({
          port: oldServer.port,
          hostPolicy: loopbackHostPolicy,
          tls: { rejectUnauthorized: false },
          allowInsecure: true,
          socketFactory: factory,
        }),
      ),
    );
    expectConnectionError(await failureOf(firstPage(provider)), "tls_failed");
  });

  it("R9: STARTTLS fails closed when the server refuses it: no credentials are sent", async () => {
    const refusing = await server({ capabilities: ["STARTTLS"] });
    const provider = track(
      createImapProvider(base({ port: refusing.port, hostPolicy: loopbackHostPolicy, security: "starttls" })),
    );
    expectConnectionError(await failureOf(firstPage(provider)), "tls_failed", "starttls_not_offered");
    expect(refusing.received.some((line) => / STARTTLS$/i.test(line))).toBe(true);
    expect(refusing.received.join("\n")).not.toMatch(/LOGIN|AUTHENTICATE/i);
  });

  it("R9: a cleartext client on a TLS port times out with a hint to use TLS", async () => {
    const tlsPort = await server({ tls: await selfSignedCertificate("localhost") });
    const provider = track(
      createImapProvider(
        base({
          port: tlsPort.port,
          hostPolicy: loopbackHostPolicy,
          security: "starttls",
          connectionTimeoutMs: 400,
        }),
      ),
    );
    const error = expectConnectionError(
      await failureOf(firstPage(provider)),
      "timeout",
      "plaintext_to_tls_port",
    );
    expect([error.code, error.retryable]).toEqual(["transient", true]);
    expect(error.message).toMatch(/security "tls"/);
  });

  it("R9: a closed port is connection_refused, transient, with the same words as any unreachable server", async () => {
    const gone = await startScriptedImapServer();
    const port = gone.port;
    await gone.close();
    const provider = track(createImapProvider(base({ port, hostPolicy: loopbackHostPolicy })));
    const error = expectConnectionError(await failureOf(firstPage(provider)), "connection_refused");
    expect([error.code, error.retryable, error.message]).toEqual([
      "transient",
      true,
      "The mail server could not be reached",
    ]);
  });
});

const skip = dovecotSkipReason();

describe.skipIf(skip !== undefined)(`R9: IMAP against Dovecot${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let dovecot: DovecotServer;
  const providers: MailProvider[] = [];
  const track = (provider: MailProvider) => (providers.push(provider), provider);
  beforeAll(async () => {
    dovecot = await sharedDovecot();
  });
  afterAll(async () => {
    await Promise.all(providers.map((provider) => provider.close()));
    if (!process.env.CLIENTMAIL_TEST_DOVECOT) await dovecot.stop();
  });

  it("R9: the loopback server is refused by default without a connection, and reachable through the allow list", async () => {
    const user = await dovecot.addUser();
    const proxy = await startTcpProxy(dovecot);
    try {
      const { hostPolicy: _allowed, ...defaults } = providerSettings(proxy, user);
      const refused = track(createImapProvider(defaults));
      expectConnectionError(await failureOf(firstPage(refused)), "host_refused");
      expect(proxy.totalConnections).toBe(0);
      const allowed = track(createImapProvider(providerSettings(proxy, user)));
      expect(await firstPage(allowed)).toMatchObject({ added: [] });
      // The listing's connection, then the command connection the fetch will use, opened ahead
      // once the listing's connection was in.
      await vi.waitFor(() => expect(proxy.totalConnections).toBe(2));
    } finally {
      await proxy.close();
    }
  });

  it("R9: DNS rebinding: the connection goes to the address that was vetted; a later answer pointing at the metadata service is refused without a dial", async () => {
    const user = await dovecot.addUser();
    const dns = fakeDns({ localhost: (call) => (call === 1 ? ["127.0.0.1"] : ["169.254.169.254"]) });
    const { factory, dials } = recordingFactory();
    const provider = track(
      createImapProvider({
        ...providerSettings(dovecot, user),
        host: "localhost",
        hostPolicy: { allow: ["127.0.0.1/32"], resolve: dns.resolve },
        socketFactory: factory,
      }),
    );
    expect(await firstPage(provider)).toMatchObject({ added: [] });
    // A full listing also opens the command connection ahead of the fetch: resolved again, it is
    // refused without a dial (the failure is the fetch's to report, when it comes).
    await vi.waitFor(() => expect(dns.calls).toEqual(["localhost", "localhost"]));
    expect(dials.map((dial) => `${dial.address}:${dial.port}`)).toEqual([`127.0.0.1:${dovecot.port}`]);
    // watch opens a connection of its own: resolved again, and refused.
    const error = expectConnectionError(await failureOf(provider.watch(() => undefined)), "host_refused");
    expect(error.details.refused).toBe("metadata");
    expect(dials).toHaveLength(1);
    expect(dns.calls).toEqual(["localhost", "localhost", "localhost"]);
  });

  it("R9: STARTTLS fails closed against a server that does not offer it, before any credentials are sent", async () => {
    const user = await dovecot.addUser();
    let clientBytes = "";
    const proxy = await startTcpProxy(dovecot, {
      tap: (direction, chunk) => {
        if (direction === "client-to-server") clientBytes += chunk.toString("latin1");
      },
    });
    try {
      const provider = track(createImapProvider(providerSettings(proxy, user, { security: "starttls" })));
      expectConnectionError(await failureOf(firstPage(provider)), "tls_failed", "starttls_not_offered");
      expect(proxy.totalConnections).toBe(1);
      expect(clientBytes).not.toMatch(/LOGIN|AUTHENTICATE/i);
      expect(clientBytes).not.toContain(user.password);
    } finally {
      await proxy.close();
    }
  });

  it("R9: a TLS client on the cleartext IMAP port fails as tls_failed, with a hint about the port", async () => {
    const user = await dovecot.addUser();
    const provider = track(createImapProvider(providerSettings(dovecot, user, { security: "tls" })));
    const error = expectConnectionError(
      await failureOf(firstPage(provider)),
      "tls_failed",
      "tls_to_plaintext_port",
    );
    expect(error.message).toMatch(/STARTTLS/);
  });

  it("R9: allowInsecure cleartext to a remote address works and logs one warning per connection", async () => {
    const user = await dovecot.addUser();
    const dns = fakeDns({ "imap.example.test": [publicAddress] });
    const { factory, dials } = recordingFactory({ redirectTo: dovecot.port });
    const { logger, warnings } = recordingLogger();
    const provider = track(
      createImapProvider({
        ...providerSettings(dovecot, user),
        host: "imap.example.test",
        port: 143,
        hostPolicy: { resolve: dns.resolve },
        socketFactory: factory,
        allowInsecure: true,
        logger,
      }),
    );
    expect(await firstPage(provider)).toMatchObject({ added: [] });
    const subscription = await provider.watch(() => undefined);
    await subscription.stop();
    // The full listing's own connection, the command connection, the IDLE connection.
    expect(dials.map((dial) => dial.address)).toEqual([publicAddress, publicAddress, publicAddress]);
    const insecure = warnings.filter((w) => w.fields?.insecure !== undefined);
    const warning = { provider: "imap", host: "imap.example.test", port: 143, insecure: ["cleartext"] };
    expect(insecure.map((w) => w.fields)).toEqual([warning, warning, warning]);
    expect(JSON.stringify(warnings)).not.toContain(user.password);
  });
});
