import { jobQueueConformance } from "@clientmail/testkit/vitest";
import { createMemoryJobQueue } from "./memory-job-queue.js";
import { createMemoryStore } from "./memory-store.js";

jobQueueConformance({
  name: "memory",
  makeQueue: async () => {
    const store = createMemoryStore();
    return { store, queue: createMemoryJobQueue({ store, retryDelayMs: () => 50 }) };
  },
});
