import type { Pool } from "pg";

/** Every table that holds a firm's rows. */
export const FIRM_TABLES = [
  "members",
  "mailboxes",
  "mailbox_connections",
  "mailbox_sync",
  "accounts",
  "contacts",
  "links",
  "threads",
  "thread_keys",
  "thread_mutes",
  "messages",
  "message_sightings",
  "message_filings",
  "saved_attachments",
  "notifications",
  "audit_entries",
  "outbox",
  "thread_subjects",
  "quarantine",
  "erasure_tombstones",
  "push_registrations",
  "pacing_spends",
  "pacing_slots",
] as const;

export interface RowLevelSecuritySettings {
  /**
   * The role the application connects as. It must not own the tables and must not be a
   * superuser or have BYPASSRLS. It is granted row access to the clientmail tables.
   */
  appRole: string;
}

const identifier = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * Confines every row of the clientmail tables to the firm set in `app.firm_id` (ENABLE and
 * FORCE row level security, one policy per table), and grants `appRole` access to them. Run it
 * as the tables' owner, after {@link migrate}. Idempotent.
 *
 * Once enabled, every store on this database must run with `rowLevelSecurity: true`, which sets
 * `app.firm_id` with transaction scope (`set_config(..., true)`, the `SET LOCAL` form that does
 * not leak through a transaction-mode pooler) before each statement. Listing firm ids
 * (`Store.listFirmIds`) sets `app.list_firms` instead, which reveals the firms table only.
 */
export async function enableRowLevelSecurity(pool: Pool, settings: RowLevelSecuritySettings): Promise<void> {
  const role = identifier(settings.appRole);
  const current = "current_setting('app.firm_id', true)";
  const statements: string[] = [
    "ALTER TABLE firms ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE firms FORCE ROW LEVEL SECURITY",
    "DROP POLICY IF EXISTS clientmail_firm ON firms",
    `CREATE POLICY clientmail_firm ON firms USING (id = ${current}) WITH CHECK (id = ${current})`,
    "DROP POLICY IF EXISTS clientmail_list_firms ON firms",
    `CREATE POLICY clientmail_list_firms ON firms FOR SELECT USING (current_setting('app.list_firms', true) = 'on')`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON firms TO ${role}`,
  ];
  for (const table of FIRM_TABLES) {
    statements.push(
      `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`,
      `ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`,
      `DROP POLICY IF EXISTS clientmail_firm ON ${table}`,
      `CREATE POLICY clientmail_firm ON ${table} USING (firm_id = ${current}) WITH CHECK (firm_id = ${current})`,
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${role}`,
    );
  }
  statements.push(`GRANT USAGE ON SEQUENCE audit_entries_seq_seq TO ${role}`);
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    for (const statement of statements) await client.query(statement);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  } finally {
    client.release();
  }
}
