import { describe, expect, it } from "vitest";
import { ClientMailError, RateLimitedError } from "@clientmail/core";
import { translateImapError } from "./errors.js";

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
});
