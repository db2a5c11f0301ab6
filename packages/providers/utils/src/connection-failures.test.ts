import { describe, expect, it } from "vitest";
import { ClientMailError, ConnectionError, type ConnectionFailureReason } from "@clientmail/core";
import { classifyNetworkError } from "./connection-failures.js";

const native = (code: string) => Object.assign(new Error(`${code}: raw text from the network`), { code });

describe("connection failures (R9)", () => {
  it("R9: native socket, DNS and TLS errors reduce to a few reasons, by code", () => {
    const table: [string, ConnectionFailureReason, string | undefined][] = [
      ["ENOTFOUND", "dns_failed", undefined],
      ["EAI_AGAIN", "dns_failed", undefined],
      ["ECONNREFUSED", "connection_refused", undefined],
      ["ECONNRESET", "connection_refused", undefined],
      ["EHOSTUNREACH", "connection_refused", undefined],
      ["ENETUNREACH", "connection_refused", undefined],
      ["ETIMEDOUT", "timeout", undefined],
      ["ERR_SSL_WRONG_VERSION_NUMBER", "tls_failed", "tls_to_plaintext_port"],
      ["ERR_SSL_PACKET_LENGTH_TOO_LONG", "tls_failed", "tls_to_plaintext_port"],
      ["ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION", "tls_failed", undefined],
      ["DEPTH_ZERO_SELF_SIGNED_CERT", "tls_failed", undefined],
      ["ERR_TLS_CERT_ALTNAME_INVALID", "tls_failed", undefined],
      ["CERT_HAS_EXPIRED", "tls_failed", undefined],
    ];
    for (const [code, reason, hint] of table) {
      expect(classifyNetworkError(native(code)), code).toEqual(
        hint === undefined ? { reason } : { reason, hint },
      );
    }
    expect(classifyNetworkError(native("EWHATEVER"))).toBeUndefined();
    expect(classifyNetworkError(new Error("no code"))).toBeUndefined();
    expect(classifyNetworkError(undefined)).toBeUndefined();
  });

  it("R9: a ConnectionError's code follows from its reason, and its message is fixed", () => {
    const table: [ConnectionFailureReason, string, boolean][] = [
      ["host_refused", "permission_denied", false],
      ["dns_failed", "transient", true],
      ["connection_refused", "transient", true],
      ["timeout", "transient", true],
      ["tls_failed", "mailbox_unavailable", false],
      ["auth_failed", "auth_revoked", false],
    ];
    for (const [reason, code, retryable] of table) {
      const error = new ConnectionError(reason, {
        cause: native("ECONNREFUSED"),
        details: { provider: "imap" },
      });
      expect([error.code, error.retryable, error.details], reason).toEqual([
        code,
        retryable,
        { provider: "imap", reason },
      ]);
      expect(error.message).not.toMatch(/raw text|ECONN/);
      expect(ClientMailError.isInstance(error) && ConnectionError.isInstance(error)).toBe(true);
    }
    const hinted = new ConnectionError("tls_failed", { hint: "tls_to_plaintext_port" });
    expect(hinted.details).toEqual({ reason: "tls_failed", hint: "tls_to_plaintext_port" });
    expect(hinted.message).toMatch(/STARTTLS/);
    expect(ConnectionError.isInstance(new ClientMailError("transient", "x"))).toBe(false);
    // Another installed copy of the package is recognised through the shared symbol.
    expect(ConnectionError.isInstance({ [Symbol.for("clientmail.connection-error")]: true })).toBe(true);
  });
});
