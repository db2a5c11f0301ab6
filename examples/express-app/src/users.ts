/**
 * The app's sign-in records: which team member a login is, with a scrypt hash of their password.
 * The SDK keeps no passwords (signing in is the host product's); this is the reference app's
 * stand-in for a host's own user table. In memory, or a table of its own in PostgreSQL.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import type pg from "pg";

const scrypt = promisify(scryptCallback) as (
  password: string,
  salt: Buffer,
  length: number,
) => Promise<Buffer>;

/** Who a signed-in user is. */
export interface SignIn {
  firmId: string;
  memberId: string;
}

/** The app's users. Emails are compared lower-cased. */
export interface AppUsers {
  /** Records (or replaces) the password of a member's login. */
  setPassword(email: string, who: SignIn, password: string): Promise<void>;
  /** The member whose login this is, when the password matches; otherwise undefined. */
  verify(email: string, password: string): Promise<SignIn | undefined>;
  /** Whether a login with this email exists (in any firm): a new member must not take it over. */
  exists(email: string): Promise<boolean>;
}

interface Row extends SignIn {
  hash: string;
}

async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, 32);
  return `${salt.toString("base64")}:${key.toString("base64")}`;
}

async function matches(password: string, stored: string): Promise<boolean> {
  const [salt, key] = stored.split(":") as [string, string];
  const expected = Buffer.from(key, "base64");
  const actual = await scrypt(password, Buffer.from(salt, "base64"), expected.length);
  return timingSafeEqual(actual, expected);
}

/** A dummy hash, so an unknown email takes as long as a wrong password. */
const dummy = hashPassword("unused");

/** Users in process memory (the embedded default). */
export function memoryUsers(): AppUsers {
  const rows = new Map<string, Row>();
  return {
    async setPassword(email, who, password) {
      rows.set(email.toLowerCase(), { ...who, hash: await hashPassword(password) });
    },
    async verify(email, password) {
      const row = rows.get(email.toLowerCase());
      const ok = await matches(password, row?.hash ?? (await dummy));
      return row && ok ? { firmId: row.firmId, memberId: row.memberId } : undefined;
    },
    async exists(email) {
      return rows.has(email.toLowerCase());
    },
  };
}

/** Users in PostgreSQL, in a table of the app's own (created when missing). */
export async function postgresUsers(pool: pg.Pool): Promise<AppUsers> {
  await pool.query(`CREATE TABLE IF NOT EXISTS example_app_users (
    email text PRIMARY KEY, firm_id text NOT NULL, member_id text NOT NULL, hash text NOT NULL)`);
  return {
    async setPassword(email, who, password) {
      await pool.query(
        `INSERT INTO example_app_users (email, firm_id, member_id, hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (email) DO UPDATE SET firm_id = $2, member_id = $3, hash = $4`,
        [email.toLowerCase(), who.firmId, who.memberId, await hashPassword(password)],
      );
    },
    async verify(email, password) {
      const { rows } = await pool.query<{ firm_id: string; member_id: string; hash: string }>(
        "SELECT firm_id, member_id, hash FROM example_app_users WHERE email = $1",
        [email.toLowerCase()],
      );
      const row = rows[0];
      const ok = await matches(password, row?.hash ?? (await dummy));
      return row && ok ? { firmId: row.firm_id, memberId: row.member_id } : undefined;
    },
    async exists(email) {
      const { rowCount } = await pool.query("SELECT 1 FROM example_app_users WHERE email = $1", [
        email.toLowerCase(),
      ]);
      return (rowCount ?? 0) > 0;
    },
  };
}
