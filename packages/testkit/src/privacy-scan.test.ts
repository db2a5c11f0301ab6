import { describe, expect, it } from "vitest";
import { scanTablesForNeedles, type SqlQueryable } from "./privacy-scan.js";

/** Answers the scan's two kinds of query from an in-memory table map, as Postgres would. */
function fakeDatabase(tables: Record<string, unknown[]>): SqlQueryable & { queries: string[] } {
  const queries: string[] = [];
  return {
    queries,
    async query(sql: string) {
      queries.push(sql);
      if (sql.includes("information_schema.tables"))
        return { rows: Object.keys(tables).map((table_name) => ({ table_name })) };
      const table = /FROM "((?:[^"]|"")+)" t/.exec(sql)?.[1]?.replace(/""/g, '"');
      if (table === undefined || !(table in tables)) throw new Error(`unexpected query: ${sql}`);
      return { rows: tables[table]!.map((row) => ({ row: JSON.stringify(row) })) };
    },
  };
}

describe("scanTablesForNeedles", () => {
  it("F1: reports each table holding a needle once, and counts every table and row read", async () => {
    const db = fakeDatabase({
      messages: [{ subject: "Receipts" }, { subject: "Holiday plans x1" }, { subject: "Holiday plans x1" }],
      contacts: [{ email: "jo@home.example" }],
      'odd"name': [{ note: "friend-x1@personal.example" }],
      empty: [],
    });
    const result = await scanTablesForNeedles(db, ["Holiday plans x1", "friend-x1@personal.example"]);
    expect(result.tables).toBe(4);
    expect(result.rows).toBe(5);
    expect(result.hits).toEqual([
      { table: "messages", needle: "Holiday plans x1" },
      { table: 'odd"name', needle: "friend-x1@personal.example" },
    ]);
    expect(db.queries.some((sql) => sql.includes('"odd""name"'))).toBe(true);
  });

  it("F1: finds a needle stored lower-cased, JSON-escaped, or as bytea hex", async () => {
    const db = fakeDatabase({
      addresses: [{ email: "friend-x2@personal.example" }],
      notes: [{ text: 'He said "hi x2"' }],
      blobs: [{ content: `\\x${Buffer.from("Secret x2").toString("hex")}` }],
    });
    const result = await scanTablesForNeedles(db, [
      "Friend-X2@Personal.example",
      'said "hi x2"',
      "Secret x2",
    ]);
    expect(result.hits).toEqual([
      { table: "addresses", needle: "Friend-X2@Personal.example" },
      { table: "notes", needle: 'said "hi x2"' },
      { table: "blobs", needle: "Secret x2" },
    ]);
  });

  it("F1: finds nothing in a clean store and refuses needles that could never fail", async () => {
    const db = fakeDatabase({ messages: [{ subject: "Receipts" }] });
    expect(await scanTablesForNeedles(db, ["Holiday"])).toEqual({ tables: 1, rows: 1, hits: [] });
    await expect(scanTablesForNeedles(db, [])).rejects.toThrow(/needles/);
    await expect(scanTablesForNeedles(db, ["x", ""])).rejects.toThrow(/needles/);
  });
});
