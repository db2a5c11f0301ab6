/**
 * The privacy scan of the end-to-end tests: after a sync, every row of every table of the store's
 * schema is read back raw and searched for text that only personal mail carried (its subject,
 * body, addresses, attachment names). Reading the tables, rather than asking the store, proves
 * nothing personal was written anywhere — not in a column, a log table or a cursor.
 */

/**
 * The one method of a Postgres client the scan needs; a `pg.Pool` or `pg.Client` fits, so the
 * testkit does not depend on `pg`.
 */
export interface SqlQueryable {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** A needle found in a table (reported once per table and needle, however many rows hold it). */
export interface PrivacyScanHit {
  table: string;
  needle: string;
}

/** What {@link scanTablesForNeedles} read and found. */
export interface PrivacyScanResult {
  /** Base tables of the current schema that were read. */
  tables: number;
  /** Rows read, over all tables. */
  rows: number;
  /** Every table that holds a needle; empty when the store is clean. */
  hits: PrivacyScanHit[];
}

/** Quotes a Postgres identifier (as `pg.escapeIdentifier` does). */
function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The forms a needle can take in `row_to_json(t)::text`: as written (text columns), JSON-escaped
 * (quotes, backslashes, control characters), and as the hex of its UTF-8 bytes (bytea columns
 * render as `\x…`). All lower case, because the rows are compared lower-cased: a store that
 * normalises addresses or subjects must not slip past the scan.
 */
function formsOf(needle: string): string[] {
  const lower = needle.toLowerCase();
  return [
    ...new Set([
      lower,
      JSON.stringify(lower).slice(1, -1),
      Buffer.from(needle, "utf8").toString("hex"),
      Buffer.from(lower, "utf8").toString("hex"),
    ]),
  ];
}

/**
 * Reads every row of every base table of the connection's current schema as
 * `row_to_json(t)::text` and reports which tables contain any of `needles` (case-insensitive,
 * also JSON-escaped and hex-encoded as bytea). Read-only; it never asserts — the caller expects
 * `hits` to be empty and `tables` / `rows` to be large enough that the scan saw real data.
 *
 * Needles should be unique to the run (carry a random token): the schema may be shared with
 * other tests, and every row of it is read. Content that the store encrypts is out of reach,
 * which is the point of encrypting it.
 *
 * @throws when `needles` is empty or holds an empty string, since such a scan could not fail.
 */
export async function scanTablesForNeedles(
  pool: SqlQueryable,
  needles: readonly string[],
): Promise<PrivacyScanResult> {
  if (needles.length === 0 || needles.some((needle) => needle.length === 0))
    throw new Error("scanTablesForNeedles: needles must be a non-empty list of non-empty strings");
  const forms = needles.map((needle) => ({ needle, forms: formsOf(needle) }));
  const tables = (
    await pool.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
    )
  ).rows.map((row) => (row as { table_name: string }).table_name);
  const hits: PrivacyScanHit[] = [];
  let rows = 0;
  for (const table of tables) {
    const found = new Set<string>();
    const result = await pool.query(`SELECT row_to_json(t)::text AS row FROM ${quoteIdentifier(table)} t`);
    for (const { row } of result.rows as { row: string }[]) {
      rows += 1;
      const text = row.toLowerCase();
      for (const { needle, forms: variants } of forms)
        if (!found.has(needle) && variants.some((form) => text.includes(form))) found.add(needle);
    }
    for (const needle of found) hits.push({ table, needle });
  }
  return { tables: tables.length, rows, hits };
}
