/**
 * The grants of Google's OAuth 2.0 token endpoint (`https://oauth2.googleapis.com/token`) beyond
 * refresh: the authorization code with PKCE (RFC 7636, S256) that connects a user, and the
 * JWT-bearer grant (RFC 7523) of a service account with domain-wide delegation. Refusals carry
 * the bodies Google documents: `invalid_grant` ("Bad Request", "Invalid JWT Signature.",
 * "Invalid email or User ID", the short-lived-token message), `redirect_uri_mismatch`, and
 * `unauthorized_client` when delegation is not granted for the scopes.
 */
import { createHash, createPublicKey, verify, type KeyObject } from "node:crypto";

export interface GrantReply {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

function reply(status: number, value: unknown): GrantReply {
  return {
    status,
    body: JSON.stringify(value),
    headers: { "content-type": "application/json; charset=utf-8" },
  };
}

/** What the consent screen remembers for a code. */
interface IssuedCode {
  clientId: string;
  user: string;
  redirectUri: string;
  codeChallenge: string | undefined;
  codeChallengeMethod: string | undefined;
  scope: string;
  expiresAt: number;
}

interface ServiceAccount {
  publicKey: KeyObject;
  /** Client id of the account; what the Workspace admin grants delegation to. */
  delegatedScopes: ReadonlySet<string> | undefined;
}

/** Issues tokens for a user on behalf of the fake (it owns the token tables). */
export interface TokenIssuer {
  now(): number;
  hasUser(user: string): boolean;
  issueAccessToken(user: string): { accessToken: string; expiresIn: number };
  issueRefreshToken(user: string): string;
}

const jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer";
export const googleTokenUrl = "https://oauth2.googleapis.com/token";

function base64UrlJson(part: string | undefined): Record<string, unknown> | undefined {
  if (part === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The grants, over the fake's token tables. */
export class GoogleTokenGrants {
  private readonly codes = new Map<string, IssuedCode>();
  private readonly serviceAccounts = new Map<string, ServiceAccount>();
  private counter = 0;

  constructor(private readonly issuer: TokenIssuer) {}

  /**
   * What Google's consent screen does when `user` approves: an authorization code (valid 10
   * minutes, once) bound to the client, redirect URI, scopes and PKCE challenge of the consent
   * URL's parameters.
   */
  approve(user: string, consentUrl: URL | string): string {
    const params = new URL(consentUrl).searchParams;
    this.counter += 1;
    const code = `4/0Afake-${this.counter}-${Math.floor(Math.random() * 1e9).toString(36)}`;
    this.codes.set(code, {
      clientId: params.get("client_id") ?? "",
      user: user.toLowerCase(),
      redirectUri: params.get("redirect_uri") ?? "",
      codeChallenge: params.get("code_challenge") ?? undefined,
      codeChallengeMethod: params.get("code_challenge_method") ?? undefined,
      scope: params.get("scope") ?? "",
      expiresAt: this.issuer.now() + 600_000,
    });
    return code;
  }

  /**
   * Registers a service account's public key. `delegatedScopes`: the scopes a Workspace admin
   * granted its client id domain-wide delegation for; undefined, none.
   */
  addServiceAccount(clientEmail: string, publicKeyPem: string, delegatedScopes?: readonly string[]): void {
    this.serviceAccounts.set(clientEmail, {
      publicKey: createPublicKey(publicKeyPem),
      delegatedScopes: delegatedScopes === undefined ? undefined : new Set(delegatedScopes),
    });
  }

  /** True when this module serves `grantType`. */
  serves(grantType: string | null): boolean {
    return grantType === "authorization_code" || grantType === jwtBearer;
  }

  /** Needs no client secret: the JWT is signed with the service account's key. */
  isJwtBearer(grantType: string | null): boolean {
    return grantType === jwtBearer;
  }

  token(form: URLSearchParams): GrantReply {
    return form.get("grant_type") === jwtBearer ? this.jwtBearer(form) : this.authorizationCode(form);
  }

  private authorizationCode(form: URLSearchParams): GrantReply {
    const code = form.get("code") ?? "";
    const issued = this.codes.get(code);
    // A code works once: a second exchange fails like an unknown one.
    this.codes.delete(code);
    if (!issued || issued.expiresAt <= this.issuer.now() || issued.clientId !== form.get("client_id")) {
      return reply(400, { error: "invalid_grant", error_description: "Bad Request" });
    }
    if (issued.redirectUri !== form.get("redirect_uri")) {
      return reply(400, { error: "redirect_uri_mismatch", error_description: "Bad Request" });
    }
    if (issued.codeChallenge !== undefined) {
      const verifier = form.get("code_verifier");
      const expected =
        verifier === null
          ? undefined
          : issued.codeChallengeMethod === "S256"
            ? createHash("sha256").update(verifier).digest("base64url")
            : verifier;
      if (expected !== issued.codeChallenge) {
        return reply(400, { error: "invalid_grant", error_description: "Invalid code verifier." });
      }
    }
    const { accessToken, expiresIn } = this.issuer.issueAccessToken(issued.user);
    return reply(200, {
      access_token: accessToken,
      expires_in: expiresIn,
      refresh_token: this.issuer.issueRefreshToken(issued.user),
      scope: issued.scope,
      token_type: "Bearer",
    });
  }

  private jwtBearer(form: URLSearchParams): GrantReply {
    const assertion = form.get("assertion") ?? "";
    const [headerPart, claimsPart, signaturePart] = assertion.split(".");
    const header = base64UrlJson(headerPart);
    const claims = base64UrlJson(claimsPart);
    if (!header || !claims || signaturePart === undefined) {
      return reply(400, { error: "invalid_grant", error_description: "Invalid JWT Signature." });
    }
    const account = typeof claims.iss === "string" ? this.serviceAccounts.get(claims.iss) : undefined;
    const signed = Buffer.from(`${headerPart}.${claimsPart}`);
    const valid =
      account !== undefined &&
      header.alg === "RS256" &&
      verify("RSA-SHA256", signed, account.publicKey, Buffer.from(signaturePart, "base64url"));
    if (!valid) return reply(400, { error: "invalid_grant", error_description: "Invalid JWT Signature." });
    const now = Math.floor(this.issuer.now() / 1000);
    const iat = Number(claims.iat);
    const exp = Number(claims.exp);
    if (
      claims.aud !== googleTokenUrl ||
      !Number.isFinite(iat) ||
      !Number.isFinite(exp) ||
      exp - iat > 3600 ||
      exp <= now ||
      iat > now + 300
    ) {
      return reply(400, {
        error: "invalid_grant",
        error_description:
          "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
      });
    }
    const scopes = typeof claims.scope === "string" ? claims.scope.split(" ").filter(Boolean) : [];
    const subject = typeof claims.sub === "string" ? claims.sub.toLowerCase() : undefined;
    if (subject === undefined) {
      // Without `sub` a service account acts as itself, and has no Gmail mailbox.
      return reply(400, {
        error: "unauthorized_client",
        error_description:
          "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
      });
    }
    if (
      !account.delegatedScopes ||
      scopes.length === 0 ||
      scopes.some((s) => !account.delegatedScopes!.has(s))
    ) {
      return reply(401, {
        error: "unauthorized_client",
        error_description:
          "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
      });
    }
    if (!this.issuer.hasUser(subject)) {
      return reply(400, { error: "invalid_grant", error_description: "Invalid email or User ID" });
    }
    const { accessToken, expiresIn } = this.issuer.issueAccessToken(subject);
    return reply(200, { access_token: accessToken, expires_in: expiresIn, token_type: "Bearer" });
  }
}
