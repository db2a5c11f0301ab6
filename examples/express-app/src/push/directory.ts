/**
 * Which firms a Gmail address belongs to, for Pub/Sub pushes: Gmail watches every mailbox on one
 * topic, so a push names only the address. The app records the firm when a Gmail mailbox is
 * connected; the push endpoint asks the SDK to route the push for each firm listed (the SDK then
 * checks, within that firm, that a watch is recorded for the address). In memory, or a table of
 * the app's own in PostgreSQL.
 */
import type pg from "pg";

/** Address → firms of the Gmail mailboxes connected with that address. */
export interface GmailPushDirectory {
  /** Records that `firmId` has a Gmail mailbox with this address. */
  add(address: string, firmId: string): Promise<void>;
  /** The firms with a Gmail mailbox of this address (empty when none). */
  firmsOf(address: string): Promise<string[]>;
}

/** The directory in this process's memory (the embedded default). */
export function memoryGmailPushDirectory(): GmailPushDirectory {
  const firms = new Map<string, Set<string>>();
  return {
    async add(address, firmId) {
      const key = address.toLowerCase();
      firms.set(key, (firms.get(key) ?? new Set()).add(firmId));
    },
    async firmsOf(address) {
      return [...(firms.get(address.toLowerCase()) ?? [])];
    },
  };
}

/** The directory in PostgreSQL (created when missing). */
export async function postgresGmailPushDirectory(pool: pg.Pool): Promise<GmailPushDirectory> {
  await pool.query(`CREATE TABLE IF NOT EXISTS example_app_gmail_push (
    address text NOT NULL, firm_id text NOT NULL, PRIMARY KEY (address, firm_id))`);
  return {
    async add(address, firmId) {
      await pool.query(
        "INSERT INTO example_app_gmail_push (address, firm_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [address.toLowerCase(), firmId],
      );
    },
    async firmsOf(address) {
      const { rows } = await pool.query<{ firm_id: string }>(
        "SELECT firm_id FROM example_app_gmail_push WHERE address = $1 ORDER BY firm_id",
        [address.toLowerCase()],
      );
      return rows.map((row) => row.firm_id);
    },
  };
}
