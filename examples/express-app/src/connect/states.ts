/**
 * Where an OAuth flow's one-time state and PKCE verifier wait for the callback: this process's
 * memory by default, or a table of the app's own in PostgreSQL, so any process behind a load
 * balancer can take the callback. The pending flow (its verifier is a secret until the exchange)
 * is kept as keyring ciphertext; `take` deletes and returns in one statement, so a state works
 * once even when two callbacks race.
 */
import {
  memoryAuthorizationStates,
  type AuthorizationStates,
  type PendingAuthorization,
} from "@clientmail/auth";
import { systemClock, type Keyring } from "@clientmail/core/ports";
import type pg from "pg";

/** The keyring context of a pending flow: bound to its state, so a row copied under another state does not decrypt. */
function contextOf(state: string) {
  return { firmId: "oauth", recordId: state, field: "pending_authorization" };
}

/** Pending flows in this process's memory (the embedded default). */
export function memoryStates(): AuthorizationStates {
  return memoryAuthorizationStates(systemClock);
}

/** Pending flows in PostgreSQL (created when missing); expired rows are removed as new ones come. */
export async function postgresStates(pool: pg.Pool, keyring: Keyring): Promise<AuthorizationStates> {
  await pool.query(`CREATE TABLE IF NOT EXISTS example_app_oauth_states (
    state text PRIMARY KEY, pending text NOT NULL, expires_at timestamptz NOT NULL)`);
  return {
    async put(state, pending, expiresAt) {
      await pool.query("DELETE FROM example_app_oauth_states WHERE expires_at <= now()");
      await pool.query(
        "INSERT INTO example_app_oauth_states (state, pending, expires_at) VALUES ($1, $2, $3)",
        [state, await keyring.encrypt(JSON.stringify(pending), contextOf(state)), expiresAt],
      );
    },
    async take(state) {
      const { rows } = await pool.query<{ pending: string; live: boolean }>(
        `DELETE FROM example_app_oauth_states WHERE state = $1
         RETURNING pending, expires_at > now() AS live`,
        [state],
      );
      const row = rows[0];
      if (!row?.live) return undefined;
      return JSON.parse(await keyring.decrypt(row.pending, contextOf(state))) as PendingAuthorization;
    },
  };
}
