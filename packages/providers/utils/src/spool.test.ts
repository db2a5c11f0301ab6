import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SpoolArea, SpoolLimitError, readPrefix, withSpoolArea } from "./spool.js";

async function bytesOf(content: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

describe("SpoolArea", () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), "cm-spool-"));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  const files = async () => {
    const [folder] = await readdir(directory);
    return folder === undefined ? [] : await readdir(join(directory, folder));
  };

  it("R7: keeps small spools in memory within the budget and sends the rest to files; reads repeat byte for byte", async () => {
    const area = new SpoolArea({ memoryBudgetBytes: 1000, memoryPerSpoolBytes: 600, directory });
    const small = await area.spool(Buffer.alloc(500, 1));
    const overBudget = await area.spool(Buffer.alloc(550, 2));
    const large = await area.spool(
      (async function* () {
        for (let i = 0; i < 100; i++) yield Buffer.alloc(1000, i);
      })(),
    );
    expect(area.memoryBytes).toBe(500);
    expect(await files()).toHaveLength(2);
    expect(await bytesOf(small.read())).toEqual(Buffer.alloc(500, 1));
    expect(await bytesOf(overBudget.read())).toEqual(Buffer.alloc(550, 2));
    const again = await bytesOf(large.read());
    expect(again.length).toBe(100_000);
    expect(again.equals(await bytesOf(large.read()))).toBe(true);
    expect(large.size).toBe(100_000);
    expect((await readPrefix(large, 1500)).equals(again.subarray(0, 1500))).toBe(true);
    await area.dispose();
    expect(await readdir(directory)).toEqual([]);
    await expect(bytesOf(small.read())).rejects.toThrow(/after the fetch/);
  });

  it("R7: a writer past its limit fails with SpoolLimitError and keeps nothing", async () => {
    const area = new SpoolArea({ memoryBudgetBytes: 10, directory });
    const writer = area.writer(2500);
    await writer.write(Buffer.alloc(1000));
    await writer.write(Buffer.alloc(1000));
    const error = await writer.write(Buffer.alloc(1000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SpoolLimitError);
    expect((error as SpoolLimitError).seenBytes).toBe(3000);
    expect(await files()).toEqual([]);
    await area.dispose();
  });

  it("R7: withSpoolArea releases everything when the consumer stops iterating early", async () => {
    let kept: { read(): AsyncIterable<Uint8Array> } | undefined;
    for await (const spool of withSpoolArea({ memoryBudgetBytes: 0, directory }, async function* (area) {
      yield await area.spool(Buffer.alloc(100, 7));
      yield await area.spool(Buffer.alloc(100, 8));
    })) {
      kept = spool;
      expect(await files()).toHaveLength(1);
      break;
    }
    expect(await readdir(directory)).toEqual([]);
    await expect(bytesOf(kept!.read())).rejects.toThrow(/after the fetch/);
  });
});
