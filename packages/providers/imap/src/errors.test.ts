import { describe, expect, it } from "vitest";
import { ClientMailError, ConnectionError, RateLimitedError } from "@clientmail/core";
import { translateConnectError, translateImapError } from "./errors.js";

const ctx = { operation: "changes" as const, folder: "INBOX" };

describe("translateImapError", () => {
  it("maps imapflow failures to core codes at the edge", () => {
    expect(translateImapError(Object.assign(new Error("x"), { authenticationFailed: true }), ctx).code).toBe(
      "auth_revoked",
    );
    expect(
      translateImapError(Object.assign(new Error("x"), { serverResponseCode: "NONEXISTENT" }), ctx).code,
    ).toBe("not_found");
    expect(translateImapError(Object.assign(new Error("x"), { mailboxMissing: true }), ctx).code).toBe(
      "not_found",
    );
    for (const code of [
      "ECONNRESET",
      "NoConnection",
      "EConnectionClosed",
      "ETIMEOUT",
      "CONNECT_TIMEOUT",
      "ECONNREFUSED",
    ]) {
      const error = translateImapError(Object.assign(new Error("x"), { code }), ctx);
      expect(error.code, code).toBe("transient");
      expect(error.retryable).toBe(true);
    }
    expect(
      translateImapError(Object.assign(new Error("x"), { serverResponseCode: "UNAVAILABLE" }), ctx).code,
    ).toBe("transient");
    const tls = translateImapError(
      Object.assign(new Error("x"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }),
      ctx,
    );
    expect([tls.code, tls.retryable]).toEqual(["mailbox_unavailable", false]);
    expect(translateImapError(Object.assign(new Error("x"), { responseStatus: "BAD" }), ctx).code).toBe(
      "internal",
    );
  });

  it("carries retry-after for throttling and log-safe details", () => {
    const error = translateImapError(
      Object.assign(new Error("x"), { code: "ETHROTTLE", throttleReset: 1500 }),
      ctx,
    );
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(1500);
    expect(error.details).toMatchObject({
      provider: "imap",
      operation: "changes",
      folder: "INBOX",
      imapCode: "ETHROTTLE",
    });
  });

  it("passes clientmail errors through", () => {
    const original = new ClientMailError("cursor_expired", "gone");
    expect(translateImapError(original, ctx)).toBe(original);
  });

  it("R9: a failure to connect becomes a ConnectionError with one of the R9 reasons, and no native text", () => {
    const connect = (fields: Record<string, unknown>, secure = true) =>
      translateConnectError(Object.assign(new Error("* BYE imap-07.internal overloaded"), fields), {
        operation: "connect",
        secure,
      }) as ConnectionError;
    const table: [Record<string, unknown>, boolean, string, string, string | undefined][] = [
      [{ code: "ENOTFOUND" }, true, "transient", "dns_failed", undefined],
      [{ code: "ECONNREFUSED" }, true, "transient", "connection_refused", undefined],
      [{ code: "EHOSTUNREACH" }, true, "transient", "connection_refused", undefined],
      [{ code: "ClosedAfterConnectText" }, false, "transient", "connection_refused", undefined],
      [{ code: "CONNECT_TIMEOUT" }, true, "transient", "timeout", undefined],
      [{ code: "GREETING_TIMEOUT" }, true, "transient", "timeout", undefined],
      [{ code: "GREETING_TIMEOUT" }, false, "transient", "timeout", "plaintext_to_tls_port"],
      [
        { code: "ERR_SSL_WRONG_VERSION_NUMBER" },
        true,
        "mailbox_unavailable",
        "tls_failed",
        "tls_to_plaintext_port",
      ],
      [{ code: "DEPTH_ZERO_SELF_SIGNED_CERT" }, true, "mailbox_unavailable", "tls_failed", undefined],
      [{ tlsFailed: true }, false, "mailbox_unavailable", "tls_failed", "starttls_not_offered"],
      [
        { tlsFailed: true, code: "STARTTLS_INJECTION" },
        false,
        "mailbox_unavailable",
        "tls_failed",
        undefined,
      ],
      [{ authenticationFailed: true }, true, "auth_revoked", "auth_failed", undefined],
      [{ serverResponseCode: "AUTHENTICATIONFAILED" }, true, "auth_revoked", "auth_failed", undefined],
    ];
    for (const [fields, secure, code, reason, hint] of table) {
      const error = connect(fields, secure);
      expect(ConnectionError.isInstance(error), JSON.stringify(fields)).toBe(true);
      expect([error.code, error.reason, error.hint], JSON.stringify(fields)).toEqual([code, reason, hint]);
      expect(`${error.message} ${JSON.stringify(error.details)}`).not.toMatch(
        /BYE|internal|overloaded|imapCode/,
      );
    }
    expect(connect({ code: "ETHROTTLE" })).toBeInstanceOf(RateLimitedError);
  });
});
