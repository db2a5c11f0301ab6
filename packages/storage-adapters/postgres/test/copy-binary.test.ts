/**
 * The binary COPY input filing sends (`copy-binary.ts`), read back by a real PostgreSQL: every
 * type filing writes, with the values mail brings (characters beyond the Basic Multilingual
 * Plane, the text format's separators, empty strings, NULLs, dates before and after 2000).
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropDatabase, freshDatabase } from "../../../../test/support/postgres.js";
import { copyBinary, type CopyValue } from "../src/copy-binary.js";

describe("binary COPY input", () => {
  let url: string;
  let pool: pg.Pool;
  beforeAll(async () => {
    url = await freshDatabase("copy_binary");
    pool = new pg.Pool({ connectionString: url, max: 1 });
    await pool.query("CREATE TABLE t (n text, a text, j jsonb, d timestamptz, b boolean, l text[])");
  });
  afterAll(async () => {
    await pool?.end();
    if (url) await dropDatabase(url);
  });

  it("PostgreSQL reads back every value as it was sent, NULLs included", async () => {
    const rows: CopyValue[][] = [
      ["1", "plain", JSON.stringify({ a: [1, "x"] }), new Date("2026-12-02T16:05:18.123Z"), true, ["a", "b"]],
      [
        "2",
        'tab\tline\nreturn\rback\\slash "quote" — ünïcode 📎 𝔘',
        JSON.stringify([{ name: "Zoë 🧾", address: "zoe@client.example" }]),
        new Date("1999-12-31T23:59:59.999Z"),
        false,
        ['with "quote"', "back\\slash", "", "📎"],
      ],
      ["3", "", JSON.stringify(null), new Date(0), false, []],
      ["4", null, null, null, null, null],
    ];
    const client = await pool.connect();
    try {
      await pipeline(
        Readable.from([copyBinary(["text", "text", "jsonb", "timestamptz", "boolean", "text[]"], rows)]),
        client.query(copyFrom("COPY t (n, a, j, d, b, l) FROM STDIN (FORMAT binary)")),
      );
    } finally {
      client.release();
    }
    const { rows: back } = await pool.query("SELECT n, a, j, d, b, l FROM t ORDER BY n");
    expect(back).toEqual([
      { n: "1", a: "plain", j: { a: [1, "x"] }, d: rows[0]![3], b: true, l: ["a", "b"] },
      {
        n: "2",
        a: rows[1]![1],
        j: [{ name: "Zoë 🧾", address: "zoe@client.example" }],
        d: rows[1]![3],
        b: false,
        l: ['with "quote"', "back\\slash", "", "📎"],
      },
      { n: "3", a: "", j: null, d: new Date(0), b: false, l: [] },
      { n: "4", a: null, j: null, d: null, b: null, l: null },
    ]);
  });
});
