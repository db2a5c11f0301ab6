/**
 * The Microsoft identity platform (v2.0) as MSAL meets it, for the Graph fake: instance
 * discovery, the tenant's OpenID configuration, and the token endpoint's grants — the
 * authorization code with PKCE (and the `id_token` and `client_info` MSAL builds its account
 * from), rotating refresh tokens, and app-only client credentials with the `.default` scope.
 * Refusals carry the documented body (`error`, `error_description` starting with the AADSTS
 * code, `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`): AADSTS7000215
 * (invalid client secret), AADSTS54005 (code already redeemed), AADSTS70008 (code expired),
 * AADSTS501481 (code verifier mismatch), AADSTS1002012 (client credentials without `/.default`),
 * AADSTS90002 (tenant not found), AADSTS50173 (grant revoked).
 */
import { createHash, randomUUID } from "node:crypto";

export const microsoftLogin = "https://login.microsoftonline.com";

/** What the identity fake needs from the Graph fake. */
export interface IdentityHost {
  tenantId: string;
  now(): number;
  /** An access token for a user (delegated) or for an app (`app: clientId`). */
  mintAccessToken(principal: { user: string } | { app: string }): string;
}

interface RegisteredApp {
  clientSecret: string;
}

interface IssuedCode {
  clientId: string;
  user: string;
  redirectUri: string;
  codeChallenge: string | undefined;
  codeChallengeMethod: string | undefined;
  scope: string;
  nonce: string | undefined;
  expiresAt: number;
  redeemed: boolean;
}

function json(status: number, value: unknown): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

function unsignedJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ typ: "JWT", alg: "none" })}.${part(claims)}.`;
}

/** A stable object id for a user of the fake tenant. */
function objectIdOf(user: string): string {
  const hex = createHash("sha256").update(user).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The identity platform of one tenant. */
export class MicrosoftIdentityFake {
  private readonly apps = new Map<string, RegisteredApp>();
  private readonly codes = new Map<string, IssuedCode>();
  /** Rotating refresh tokens: each use issues a new one. */
  private readonly refreshTokens = new Map<
    string,
    { clientId: string; user: string; scope: string; revoked: boolean }
  >();
  private counter = 0;

  constructor(private readonly host: IdentityHost) {}

  registerApp(clientId: string, clientSecret: string): void {
    this.apps.set(clientId, { clientSecret });
  }

  /** What the sign-in page does when `user` consents to the authorize URL: a code (once, 10 minutes). */
  approveConsent(user: string, authorizeUrl: URL | string): string {
    const params = new URL(authorizeUrl).searchParams;
    this.counter += 1;
    const code = `0.ARfake${this.counter}.${randomUUID()}`;
    this.codes.set(code, {
      clientId: params.get("client_id") ?? "",
      user: user.toLowerCase(),
      redirectUri: params.get("redirect_uri") ?? "",
      codeChallenge: params.get("code_challenge") ?? undefined,
      codeChallengeMethod: params.get("code_challenge_method") ?? undefined,
      scope: params.get("scope") ?? "",
      nonce: params.get("nonce") ?? undefined,
      expiresAt: this.host.now() + 600_000,
      redeemed: false,
    });
    return code;
  }

  /** Revokes every refresh token of `user` (password reset, "revoke sessions"). */
  revokeUser(user: string): void {
    for (const entry of this.refreshTokens.values())
      if (entry.user === user.toLowerCase()) entry.revoked = true;
  }

  private refusal(status: number, error: string, aadsts: number, message: string): Response {
    const traceId = randomUUID();
    const correlationId = randomUUID();
    const timestamp = new Date(this.host.now()).toISOString().replace("T", " ").replace("Z", "Z");
    return json(status, {
      error,
      error_description: `AADSTS${aadsts}: ${message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [aadsts],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${microsoftLogin}/error?code=${aadsts}`,
    });
  }

  private tenantKnown(tenant: string): boolean {
    return [this.host.tenantId, "common", "organizations"].includes(tenant.toLowerCase());
  }

  /** Answers the identity platform's URLs; undefined for any other. */
  async handle(request: Request): Promise<Response | undefined> {
    const url = new URL(request.url);
    if (url.origin !== microsoftLogin) return undefined;
    const segments = url.pathname.split("/").filter(Boolean);
    if (request.method === "GET" && segments[0] === "common" && segments[1] === "discovery") {
      return json(200, {
        tenant_discovery_endpoint: `${microsoftLogin}/${this.host.tenantId}/v2.0/.well-known/openid-configuration`,
        "api-version": "1.1",
        metadata: [
          {
            preferred_network: "login.microsoftonline.com",
            preferred_cache: "login.windows.net",
            aliases: [
              "login.microsoftonline.com",
              "login.windows.net",
              "login.microsoft.com",
              "sts.windows.net",
            ],
          },
        ],
      });
    }
    const tenant = segments[0] ?? "";
    if (request.method === "GET" && url.pathname.endsWith("/v2.0/.well-known/openid-configuration")) {
      if (!this.tenantKnown(tenant))
        return this.refusal(400, "invalid_tenant", 90002, `Tenant '${tenant}' not found.`);
      const base = `${microsoftLogin}/${tenant}`;
      return json(200, {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: [
          "client_secret_post",
          "private_key_jwt",
          "client_secret_basic",
        ],
        jwks_uri: `${base}/discovery/v2.0/keys`,
        response_modes_supported: ["query", "fragment", "form_post"],
        subject_types_supported: ["pairwise"],
        id_token_signing_alg_values_supported: ["RS256"],
        response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
        scopes_supported: ["openid", "profile", "email", "offline_access"],
        issuer: `${microsoftLogin}/${this.host.tenantId}/v2.0`,
        request_uri_parameter_supported: false,
        userinfo_endpoint: "https://graph.microsoft.com/oidc/userinfo",
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        claims_supported: [
          "sub",
          "iss",
          "aud",
          "exp",
          "iat",
          "nonce",
          "preferred_username",
          "name",
          "tid",
          "oid",
        ],
        kerberos_endpoint: `${base}/kerberos`,
        tenant_region_scope: "EU",
        cloud_instance_name: "microsoftonline.com",
        cloud_graph_host_name: "graph.windows.net",
        msgraph_host: "graph.microsoft.com",
        rbac_url: "https://pas.windows.net",
      });
    }
    if (request.method === "POST" && url.pathname.endsWith("/oauth2/v2.0/token")) {
      if (!this.tenantKnown(tenant))
        return this.refusal(400, "invalid_request", 90002, `Tenant '${tenant}' not found.`);
      return this.token(new URLSearchParams(await request.text()));
    }
    return undefined;
  }

  private token(form: URLSearchParams): Response {
    const clientId = form.get("client_id") ?? "";
    const app = this.apps.get(clientId);
    if (!app) {
      return this.refusal(
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${clientId}' was not found in the directory.`,
      );
    }
    if (form.get("client_secret") !== app.clientSecret) {
      return this.refusal(
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
      );
    }
    switch (form.get("grant_type")) {
      case "authorization_code":
        return this.authorizationCode(form, clientId);
      case "refresh_token":
        return this.refresh(form, clientId);
      case "client_credentials":
        return this.clientCredentials(form, clientId);
      default:
        return this.refusal(
          400,
          "unsupported_grant_type",
          70003,
          `The app requested an unsupported grant type '${form.get("grant_type")}'.`,
        );
    }
  }

  private delegatedTokens(clientId: string, user: string, scope: string, nonce?: string): Response {
    const now = Math.floor(this.host.now() / 1000);
    const oid = objectIdOf(user);
    const refreshToken = `1.ARfakeRT.${randomUUID()}`;
    this.refreshTokens.set(refreshToken, { clientId, user, scope, revoked: false });
    return json(200, {
      token_type: "Bearer",
      scope: scope
        .split(" ")
        .filter((s) => s !== "openid" && s !== "profile" && s !== "offline_access")
        .join(" "),
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: this.host.mintAccessToken({ user }),
      refresh_token: refreshToken,
      id_token: unsignedJwt({
        aud: clientId,
        iss: `${microsoftLogin}/${this.host.tenantId}/v2.0`,
        iat: now,
        nbf: now,
        exp: now + 3600,
        name: user,
        oid,
        preferred_username: user,
        sub: oid,
        tid: this.host.tenantId,
        ver: "2.0",
        ...(nonce === undefined ? {} : { nonce }),
      }),
      client_info: Buffer.from(JSON.stringify({ uid: oid, utid: this.host.tenantId })).toString("base64url"),
    });
  }

  private authorizationCode(form: URLSearchParams, clientId: string): Response {
    const code = this.codes.get(form.get("code") ?? "");
    if (!code || code.clientId !== clientId) {
      return this.refusal(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.");
    }
    if (code.redeemed) {
      return this.refusal(
        400,
        "invalid_grant",
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
      );
    }
    code.redeemed = true;
    if (code.expiresAt <= this.host.now()) {
      return this.refusal(
        400,
        "invalid_grant",
        70008,
        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
      );
    }
    if (code.redirectUri !== form.get("redirect_uri")) {
      return this.refusal(
        400,
        "invalid_grant",
        50148,
        "The redirect_uri specified in the token request does not match the redirect_uri used in the authorization request.",
      );
    }
    if (code.codeChallenge !== undefined) {
      const verifier = form.get("code_verifier") ?? "";
      const challenge =
        code.codeChallengeMethod === "S256"
          ? createHash("sha256").update(verifier).digest("base64url")
          : verifier;
      if (challenge !== code.codeChallenge) {
        return this.refusal(
          400,
          "invalid_grant",
          501481,
          "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        );
      }
    }
    return this.delegatedTokens(clientId, code.user, code.scope, code.nonce);
  }

  private refresh(form: URLSearchParams, clientId: string): Response {
    const presented = form.get("refresh_token") ?? "";
    const entry = this.refreshTokens.get(presented);
    if (!entry || entry.clientId !== clientId) {
      return this.refusal(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.");
    }
    if (entry.revoked) {
      return this.refusal(
        400,
        "invalid_grant",
        50173,
        "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
      );
    }
    return this.delegatedTokens(clientId, entry.user, form.get("scope") ?? entry.scope);
  }

  private clientCredentials(form: URLSearchParams, clientId: string): Response {
    const scope = form.get("scope") ?? "";
    if (!/^\S+\/\.default$/.test(scope.trim())) {
      return this.refusal(
        400,
        "invalid_scope",
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    }
    return json(200, {
      token_type: "Bearer",
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: this.host.mintAccessToken({ app: clientId }),
    });
  }
}
