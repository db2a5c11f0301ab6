import { pacingConformance } from "@clientmail/testkit/vitest";
import { createMemoryPacing } from "./memory-pacing.js";

pacingConformance({
  name: "memory",
  makePair: async () => {
    const pacing = createMemoryPacing();
    return [pacing, pacing];
  },
});
