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
    sizes.set("e", 5); // c goes, then a, then d
    expect(["a", "c", "d", "e"].map((id) => sizes.get(id))).toEqual([10, undefined, 4, 5]);
    sizes.set("f", 6);
    sizes.set("g", 7);
    expect(["a", "d", "e", "f", "g"].map((id) => sizes.get(id))).toEqual([undefined, undefined, 5, 6, 7]);
    sizes.clear();
    expect(sizes.get("e")).toBeUndefined();
  });
});
