import { blobStoreConformance } from "@clientmail/testkit/vitest";
import { createMemoryBlobStore } from "./memory-blob-store.js";

blobStoreConformance({ name: "memory", makeStore: async () => createMemoryBlobStore() });
