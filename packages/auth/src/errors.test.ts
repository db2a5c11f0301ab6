import { describe, expect, it } from "vitest";
import { ClientMailError } from "@clientmail/core";
import { translateTokenFailure } from "./errors.js";

/** The shape google-auth-library's gaxios errors have. */
const gaxios = (status: number, data: unknown) =>
  Object.assign(new Error("Request failed"), { response: { status, data } });
/** The shape MSAL's ServerError has. */
const msal = (errorCode: string, errorNo?: string) =>
  Object.assign(new Error(errorCode), { errorCode, errorNo });

describe("translateTokenFailure", () => {
  it.each([
    [
      "Google invalid_grant",
      gaxios(400, { error: "invalid_grant", error_description: "Token has been expired or revoked." }),
      "auth_revoked",
      true,
    ],
    [
      "Google unauthorized_client (no domain-wide delegation)",
      gaxios(401, { error: "unauthorized_client" }),
      "permission_denied",
      false,
    ],
    ["Google invalid_client", gaxios(401, { error: "invalid_client" }), "internal", false],
    ["Google 503 without a body", gaxios(503, ""), "transient", true],
    ["Google 429", gaxios(429, { error: "rate_limit_exceeded" }), "transient", true],
    ["a network failure (no response)", new TypeError("fetch failed"), "transient", true],
    ["MSAL invalid_grant (AADSTS50173)", msal("invalid_grant", "50173"), "auth_revoked", true],
    ["MSAL consent_required (AADSTS65001)", msal("consent_required", "65001"), "permission_denied", false],
    ["MSAL invalid_client (AADSTS7000215)", msal("invalid_client", "7000215"), "internal", false],
    ["MSAL temporarily_unavailable", msal("temporarily_unavailable"), "transient", true],
  ])("%s", (_label, error, code, retryable) => {
    const translated = translateTokenFailure(error, "Issuer");
    expect(translated.code).toBe(code);
    if (code !== "auth_revoked" && code !== "permission_denied") expect(translated.retryable).toBe(retryable);
    expect(translated.cause).toBe(error);
  });

  it("keeps the AADSTS numbers and never the description (it can echo request values)", () => {
    const translated = translateTokenFailure(
      gaxios(400, {
        error: "invalid_grant",
        error_description: "AADSTS50173: secret-ish",
        error_codes: [50173],
      }),
      "Microsoft",
    );
    expect(translated.details).toEqual({
      issuer: "Microsoft",
      oauthError: "invalid_grant",
      status: 400,
      aadsts: [50173],
    });
  });

  it("passes a ClientMailError through", () => {
    const original = new ClientMailError("transient", "x");
    expect(translateTokenFailure(original, "Google")).toBe(original);
  });
});
