import { describe, expect, it } from "vitest";
import { ConnectionError, type ValidationIssue } from "@clientmail/core";
import type { Logger } from "@clientmail/core/ports";
import type { VettedDestination } from "./host-policy.js";
import {
  checkConnectionSecurity,
  checkHttpsUrls,
  checkTransportSecurity,
  isLoopbackHost,
} from "./transport-security.js";
import { tlsOptionsFor } from "./vetted-socket.js";

function issuesOf(settings: Parameters<typeof checkTransportSecurity>[0]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  checkTransportSecurity(settings, issues);
  return issues;
}

const remote: VettedDestination = {
  host: "imap.example.com",
  port: 143,
  address: "93.184.215.14",
  family: 4,
  servername: "imap.example.com",
  loopback: false,
};

function recordingLogger() {
  const warnings: [string, unknown][] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    error: () => undefined,
    warn: (message, fields) => warnings.push([message, fields]),
  };
  return { logger, warnings };
}

describe("transport security (R9)", () => {
  it("R9: cleartext to a remote host and unverified certificates are settings errors without allowInsecure", () => {
    const remoteCleartext = { host: "imap.example.com", security: "none", rejectUnauthorized: false };
    expect(issuesOf({ ...remoteCleartext, allowInsecure: undefined }).map((i) => i.field)).toEqual([
      "security",
      "tls.rejectUnauthorized",
    ]);
    expect(issuesOf({ ...remoteCleartext, allowInsecure: true })).toEqual([]);
    expect(issuesOf({ ...remoteCleartext, allowInsecure: "yes" }).map((i) => i.field)).toEqual([
      "allowInsecure",
      "security",
      "tls.rejectUnauthorized",
    ]);
    for (const host of [
      "127.0.0.1",
      "127.8.9.10",
      "::1",
      "[::1]",
      "localhost",
      "LOCALHOST.",
      "db.localhost",
    ]) {
      expect(
        issuesOf({ host, security: "none", rejectUnauthorized: undefined, allowInsecure: undefined }),
        host,
      ).toEqual([]);
    }
    for (const host of ["10.0.0.1", "::ffff:10.0.0.1", "localhost.example.com", "127.1"]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
    expect(isLoopbackHost("::ffff:127.0.0.1")).toBe(true);
  });

  it("R9: a cleartext connection that the settings allowed only for loopback is refused when the address is not loopback", () => {
    const settings = {
      host: "localhost",
      security: "none" as const,
      rejectUnauthorized: undefined,
      allowInsecure: false,
    };
    let error: unknown;
    try {
      checkConnectionSecurity(settings, remote, { provider: "imap" });
    } catch (e) {
      error = e;
    }
    expect(ConnectionError.isInstance(error) && [error.reason, error.details.refused]).toEqual([
      "host_refused",
      "cleartext",
    ]);
    expect(checkConnectionSecurity(settings, { ...remote, loopback: true }, { provider: "imap" })).toEqual(
      [],
    );
  });

  it("R9: each connection that uses the opt-in logs one warning, naming what it gives up and nothing secret", () => {
    const { logger, warnings } = recordingLogger();
    const context = { provider: "smtp", logger };
    expect(
      checkConnectionSecurity(
        { host: "smtp.example.com", security: "none", rejectUnauthorized: undefined, allowInsecure: true },
        remote,
        context,
      ),
    ).toEqual(["cleartext"]);
    expect(
      checkConnectionSecurity(
        { host: "smtp.example.com", security: "starttls", rejectUnauthorized: false, allowInsecure: true },
        remote,
        context,
      ),
    ).toEqual(["unverified_certificate"]);
    expect(
      checkConnectionSecurity(
        { host: "smtp.example.com", security: "tls", rejectUnauthorized: true, allowInsecure: true },
        remote,
        context,
      ),
    ).toEqual([]);
    expect(warnings).toEqual([
      [
        "smtp connection is not secure (allowed by allowInsecure)",
        { provider: "smtp", host: "imap.example.com", port: 143, insecure: ["cleartext"] },
      ],
      [
        "smtp connection is not secure (allowed by allowInsecure)",
        { provider: "smtp", host: "imap.example.com", port: 143, insecure: ["unverified_certificate"] },
      ],
    ]);
  });

  it("R9: TLS options: TLS 1.2 at least, certificate checked against the host name (or the IP literal)", () => {
    expect(tlsOptionsFor(remote)).toEqual({
      minVersion: "TLSv1.2",
      rejectUnauthorized: true,
      servername: "imap.example.com",
    });
    expect(tlsOptionsFor({ ...remote, servername: undefined }, { ca: "PEM" })).toEqual({
      minVersion: "TLSv1.2",
      rejectUnauthorized: true,
      ca: "PEM",
    });
    expect(
      tlsOptionsFor(remote, { servername: "mail.example.com", rejectUnauthorized: false }),
    ).toMatchObject({
      servername: "mail.example.com",
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
    });
  });

  it("R9: HTTP providers' URLs are https unless the host allows http for tests", () => {
    const issues: ValidationIssue[] = [];
    expect(
      checkHttpsUrls(
        [
          ["baseUrl", "http://127.0.0.1:9000"],
          ["tokenUrl", "https://oauth2.example.test/token"],
          ["other", undefined],
        ],
        undefined,
        issues,
      ),
    ).toEqual([]);
    expect(issues.map((i) => i.field)).toEqual(["baseUrl"]);
    const allowed: ValidationIssue[] = [];
    expect(
      checkHttpsUrls(
        [
          ["baseUrl", "http://127.0.0.1:9000"],
          ["x", "file:///etc/passwd"],
        ],
        true,
        allowed,
      ),
    ).toEqual(["baseUrl"]);
    expect(allowed.map((i) => i.field)).toEqual(["x"]);
  });
});
