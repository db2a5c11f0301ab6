/**
 * SASL XOAUTH2 with a token source: each connection asks the source for a token; a refused token
 * is replaced once (`forceRefresh`, the refresh hook), then the connection fails as
 * `auth_revoked`. Against a scripted loopback server that speaks Gmail's XOAUTH2 exchange
 * (Dovecot needs an OAuth introspection service for XOAUTH2, which the test servers do not run).
 */
import { afterAll, describe, expect, it } from "vitest";
import { ClientMailError } from "@clientmail/core";
import type { AccessToken, AccessTokenRequest, TokenSource } from "@clientmail/core/ports";
import { ImapConnection } from "../src/connection.js";
import { resolveSettings } from "../src/settings.js";
import { startScriptedImapServer, type ScriptedImapServer } from "./scripted-imap-server.js";

/** A token source handing out `tokens` in order, recording how it was asked. */
function scriptedSource(tokens: string[]): TokenSource & { requests: AccessTokenRequest[] } {
  const requests: AccessTokenRequest[] = [];
  let next = 0;
  return {
    requests,
    async accessToken(request: AccessTokenRequest = {}): Promise<AccessToken> {
      requests.push({ forceRefresh: request.forceRefresh === true });
      const token = tokens[Math.min(next, tokens.length - 1)]!;
      if (request.forceRefresh || next === 0) next += 1;
      return { token, expiresAt: new Date(Date.now() + 3_600_000) };
    },
  };
}

describe("IMAP XOAUTH2 with a token source", () => {
  const servers: ScriptedImapServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
  });
  async function connection(valid: string[], source: TokenSource) {
    const server = await startScriptedImapServer({ xoauth2Tokens: new Set(valid) });
    servers.push(server);
    const settings = resolveSettings({
      host: server.host,
      port: server.port,
      security: "none",
      hostPolicy: { allow: ["127.0.0.1/32"], allowPorts: [server.port] },
      user: "ann@firm.example",
      tokenSource: source,
      connectionTimeoutMs: 5_000,
    });
    return { server, connection: new ImapConnection(settings) };
  }

  it("Y1: a connection authenticates with the source's token over XOAUTH2", async () => {
    const source = scriptedSource(["ya29.good"]);
    const { server, connection: imap } = await connection(["ya29.good"], source);
    const client = await imap.open("connect");
    expect(client.usable).toBe(true);
    await client.logout();
    expect(source.requests).toEqual([{ forceRefresh: false }]);
    expect(server.received.some((line) => /AUTHENTICATE XOAUTH2/i.test(line))).toBe(true);
  });

  it("Y1: a refused token is refreshed once through the hook, and the connection succeeds with the new one", async () => {
    const source = scriptedSource(["ya29.stale", "ya29.fresh"]);
    const { server, connection: imap } = await connection(["ya29.fresh"], source);
    const client = await imap.open("connect");
    await client.logout();
    expect(source.requests).toEqual([{ forceRefresh: false }, { forceRefresh: true }]);
    expect(server.connections).toBe(2);
  });

  it("Y1: when the refreshed token is refused too, the connection fails as auth_revoked without asking again", async () => {
    const source = scriptedSource(["ya29.stale", "ya29.still-bad"]);
    const { connection: imap } = await connection(["ya29.other"], source);
    const error = await imap.open("connect").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(ClientMailError.isInstance(error) && error.code).toBe("auth_revoked");
    expect(source.requests).toEqual([{ forceRefresh: false }, { forceRefresh: true }]);
    expect(JSON.stringify((error as ClientMailError).details)).not.toContain("ya29");
  });

  it("settings take exactly one of password, accessToken and tokenSource", () => {
    const base = { host: "imap.example.com", user: "ann" };
    expect(() => resolveSettings({ ...base, password: "p", tokenSource: scriptedSource(["t"]) })).toThrow(
      /exactly one of password, accessToken and tokenSource/,
    );
    expect(() => resolveSettings({ ...base, tokenSource: {} as TokenSource })).toThrow(/TokenSource/);
    expect(resolveSettings({ ...base, tokenSource: scriptedSource(["t"]) }).tokenSource).toBeDefined();
  });
});
