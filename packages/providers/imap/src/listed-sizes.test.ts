import { describe, expect, it } from "vitest";
import { ListedSizes } from "./listed-sizes.js";

describe("ListedSizes", () => {
  it("R7: keeps at most its limit of sizes, forgetting the oldest first", () => {
    const sizes = new ListedSizes(3);
    for (const [id, size] of [
      ["a", 1],
      ["b", 2],
      ["c", 3],
    ] as const)
      sizes.set(id, size);
    sizes.set("a", 10); // set again: now the newest
    sizes.set("d", 4);
    expect(["a", "b", "c", "d"].map((id) => sizes.get(id))).toEqual([10, undefined, 3, 4]);
    sizes.clear();
    expect(sizes.get("a")).toBeUndefined();
  });
});
