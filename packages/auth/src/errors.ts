/**
 * OAuth failures (RFC 6749 §5.2 error codes, as google-auth-library's gaxios errors and MSAL's
 * `ServerError`s carry them) translated into `ClientMailError` codes at the edge:
 *
 * | token endpoint says | code | why |
 * | --- | --- | --- |
 * | `invalid_grant` (revoked, expired, password changed, bad code or verifier) | `auth_revoked` | the mailbox must be reconnected |
 * | `unauthorized_client`, `access_denied`, `invalid_scope`, `consent_required`, `interaction_required` | `permission_denied` | an admin must grant (domain-wide delegation, admin consent) |
 * | `invalid_client`, `invalid_request`, `unsupported_grant_type`, `invalid_tenant`, unknown tenant | `internal`, not retryable | the OAuth client is misconfigured |
 * | `temporarily_unavailable`, `server_error`, HTTP 429 or 5xx, no answer | `transient` | try again later |
 *
 * Details hold the OAuth error code, the HTTP status and, for Microsoft, the AADSTS numbers:
 * never a token, a secret or the request body.
 */
import { ClientMailError } from "@clientmail/core";

const revoked = new Set(["invalid_grant"]);
const denied = new Set([
  "unauthorized_client",
  "access_denied",
  "invalid_scope",
  "consent_required",
  "interaction_required",
]);
const misconfigured = new Set([
  "invalid_client",
  "invalid_request",
  "unsupported_grant_type",
  "unsupported_response_type",
  "invalid_tenant",
  "invalid_resource",
]);
const unavailable = new Set(["temporarily_unavailable", "server_error"]);

interface OAuthFailureFacts {
  oauthError: string | undefined;
  status: number | undefined;
  aadsts: number[] | undefined;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
}

/** Reads the OAuth error out of the shapes the libraries throw. */
function factsOf(error: unknown): OAuthFailureFacts {
  const outer = record(error);
  const response = record(outer?.response);
  const data = record(response?.data) ?? record(outer?.body);
  const oauthError =
    (typeof data?.error === "string" ? data.error : undefined) ??
    (typeof outer?.errorCode === "string" && outer.errorCode !== "" ? outer.errorCode : undefined) ??
    (typeof outer?.code === "string" && /^[a-z_]+$/.test(outer.code) ? outer.code : undefined);
  const status =
    (typeof response?.status === "number" ? response.status : undefined) ??
    (typeof outer?.status === "number" ? outer.status : undefined);
  const codes = data?.error_codes ?? (outer?.errorNo === undefined ? undefined : [Number(outer.errorNo)]);
  const aadsts = Array.isArray(codes) ? codes.map(Number).filter(Number.isFinite) : undefined;
  return { oauthError, status, aadsts };
}

/** Translates a failure of a token request by `issuer` ("Google", "Microsoft"). */
export function translateTokenFailure(error: unknown, issuer: string): ClientMailError {
  if (ClientMailError.isInstance(error)) return error;
  const { oauthError, status, aadsts } = factsOf(error);
  const details = { issuer, oauthError, status, ...(aadsts && aadsts.length > 0 ? { aadsts } : {}) };
  if (oauthError !== undefined && revoked.has(oauthError)) {
    return new ClientMailError(
      "auth_revoked",
      `${issuer} refused the grant (invalid_grant): it was revoked or expired; reconnect the mailbox`,
      { details, cause: error },
    );
  }
  if (oauthError !== undefined && denied.has(oauthError)) {
    return new ClientMailError(
      "permission_denied",
      `${issuer} does not allow this client what it asked for (${oauthError}): an administrator must grant it (domain-wide delegation or admin consent)`,
      { details, cause: error },
    );
  }
  if (oauthError !== undefined && misconfigured.has(oauthError)) {
    return new ClientMailError(
      "internal",
      `${issuer}'s token endpoint refused the OAuth client (${oauthError}): check the client id, secret or key, and the tenant`,
      { details, cause: error, retryable: false },
    );
  }
  if (
    (oauthError !== undefined && unavailable.has(oauthError)) ||
    status === undefined ||
    status === 429 ||
    status >= 500
  ) {
    return new ClientMailError("transient", `${issuer}'s token endpoint is unavailable`, {
      details,
      cause: error,
    });
  }
  return new ClientMailError(
    "internal",
    `${issuer}'s token endpoint refused the request (${oauthError ?? status})`,
    { details, cause: error, retryable: false },
  );
}
