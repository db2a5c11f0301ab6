/**
 * The one-time `state` of an authorization-code flow, with its PKCE verifier (RFC 7636). The
 * consent URL carries the state and the S256 challenge; the callback's state is taken — once —
 * to find the verifier, so a replayed or forged callback finds nothing.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Clock } from "@clientmail/core/ports";

/** What is remembered between the consent URL and the callback. */
export interface PendingAuthorization {
  /** The PKCE code verifier (secret until the exchange). */
  codeVerifier: string;
  redirectUri: string;
  /** The host's own context, e.g. the firm and member connecting; returned on completion. */
  context: Record<string, string>;
}

/**
 * Where pending authorizations wait for their callback. A host with several processes behind a
 * load balancer passes a shared one (its session store, a database table); `take` must remove
 * atomically so a state works once.
 */
export interface AuthorizationStates {
  put(state: string, pending: PendingAuthorization, expiresAt: Date): Promise<void>;
  /** The pending authorization of `state`, removed; undefined when unknown, taken or expired. */
  take(state: string): Promise<PendingAuthorization | undefined>;
}

/** Pending authorizations in this process's memory. */
export function memoryAuthorizationStates(clock: Clock): AuthorizationStates {
  const pending = new Map<string, { value: PendingAuthorization; expiresAt: number }>();
  return {
    async put(state, value, expiresAt) {
      const now = clock.now().getTime();
      for (const [key, entry] of pending) if (entry.expiresAt <= now) pending.delete(key);
      pending.set(state, { value, expiresAt: expiresAt.getTime() });
    },
    async take(state) {
      const entry = pending.get(state);
      pending.delete(state);
      if (!entry || entry.expiresAt <= clock.now().getTime()) return undefined;
      return entry.value;
    },
  };
}

/** 32 random bytes, base64url: a state or a code verifier (43 characters, within RFC 7636's 43–128). */
export function randomUrlSafe(): string {
  return randomBytes(32).toString("base64url");
}

/** The S256 code challenge of a verifier. */
export function codeChallengeOf(codeVerifier: string): string {
  return createHash("sha256").update(codeVerifier).digest("base64url");
}
