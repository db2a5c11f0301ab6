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
import { copyBinary, CopyBuffers, type CopyType, type CopyValue } from "../src/copy-binary.js";

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

  const TYPES: readonly CopyType[] = ["text", "text", "jsonb", "timestamptz", "boolean", "text[]"];

  /** Sends `input` to `table` and reads the rows back. */
  async function roundTrip(table: string, input: Buffer): Promise<unknown[]> {
    await pool.query(`CREATE TABLE ${table} (n text, a text, j jsonb, d timestamptz, b boolean, l text[])`);
    const client = await pool.connect();
    try {
      await pipeline(
        Readable.from([input]),
        client.query(copyFrom(`COPY ${table} (n, a, j, d, b, l) FROM STDIN (FORMAT binary)`)),
      );
    } finally {
      client.release();
    }
    return (await pool.query(`SELECT n, a, j, d, b, l FROM ${table} ORDER BY n`)).rows;
  }

  it("R7: input written into kept memory reads back the same, and memory given back serves the next statement", async () => {
    const buffers = new CopyBuffers();
    const body = "Dear client, the return is filed. 📎 ".repeat(40_000); // ~1.5 MB
    const first: CopyValue[][] = [
      ["1", body, JSON.stringify({ a: 1 }), new Date("2026-12-04T10:00:00Z"), true, ["x"]],
      ["2", null, null, null, null, null],
    ];
    const input = copyBinary(TYPES, first, buffers);
    expect(input.equals(copyBinary(TYPES, first))).toBe(true);
    expect(await roundTrip("kept_one", input)).toEqual([
      { n: "1", a: body, j: { a: 1 }, d: first[0]![3], b: true, l: ["x"] },
      { n: "2", a: null, j: null, d: null, b: null, l: null },
    ]);
    buffers.give(input);
    expect(buffers.kept).toEqual([2 * 1024 * 1024]);

    // A smaller batch reuses that memory, overwriting what the first one left there.
    const second: CopyValue[][] = [["3", "short", JSON.stringify([]), new Date(0), false, []]];
    const again = copyBinary(TYPES, second, buffers);
    expect(again.buffer).toBe(input.buffer);
    expect(buffers.kept).toEqual([]);
    expect(again.equals(copyBinary(TYPES, second))).toBe(true);
    expect(await roundTrip("kept_two", again)).toEqual([
      { n: "3", a: "short", j: [], d: new Date(0), b: false, l: [] },
    ]);
  });

  it("R7: keeps at most two buffers, none above 8 MiB, the largest first", () => {
    const MiB = 1024 * 1024;
    const buffers = new CopyBuffers();
    const small = buffers.take(10);
    const middle = buffers.take(3 * MiB - 5);
    const large = buffers.take(5 * MiB);
    const huge = buffers.take(9 * MiB);
    expect([small.length, middle.length, large.length, huge.length]).toEqual([
      10,
      3 * MiB - 5,
      5 * MiB,
      9 * MiB,
    ]);
    buffers.give(small);
    buffers.give(huge); // above 8 MiB: not kept
    buffers.give(middle);
    buffers.give(middle); // given twice: kept once
    expect(buffers.kept).toEqual([3 * MiB, MiB]);
    buffers.give(large); // the smallest goes
    expect(buffers.kept).toEqual([5 * MiB, 3 * MiB]);
    // Best fit: a 2 MiB request takes the 3 MiB buffer, not the 5 MiB one.
    expect(buffers.take(2 * MiB).buffer).toBe(middle.buffer);
    expect(buffers.kept).toEqual([5 * MiB]);
    // Nothing fits: new memory, rounded up to whole mebibytes.
    expect(buffers.take(6 * MiB + 1).buffer.byteLength).toBe(7 * MiB);
  });
});
