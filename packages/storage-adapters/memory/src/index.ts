/**
 * `@clientmail/memory`: the in-process store. It is the embedded default (demos, tests, a single
 * small host) and the reference implementation of the Store port: transactions roll back on
 * error and unique keys are enforced exactly as in `@clientmail/postgres`.
 *
 * @example
 * ```ts
 * import { createMemoryStore } from "@clientmail/memory";
 *
 * const store = createMemoryStore();
 * const firm = await store.createFirm({ name: "Acme CPA", internalDomains: ["acme-cpa.com"], deletionMode: "mirror" });
 * ```
 *
 * @module
 */
export { createMemoryStore, MemoryStore } from "./memory-store.js";
export type { MemoryStoreSettings } from "./memory-store.js";
export { createMemoryJobQueue } from "./memory-job-queue.js";
export type { MemoryJobQueueSettings } from "./memory-job-queue.js";
export { createMemoryBlobStore } from "./memory-blob-store.js";
export type { MemoryBlobStore } from "./memory-blob-store.js";
export { createMemoryPacing } from "./memory-pacing.js";
export type { MemoryPacingSettings } from "./memory-pacing.js";
