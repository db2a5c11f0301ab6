import { blobStoreConformance } from "@clientmail/testkit";
import { createMemoryBlobStore } from "./memory-blob-store.js";

blobStoreConformance({ name: "memory", makeStore: async () => createMemoryBlobStore() });
