/**
 * The Store conformance suite: every Store adapter (memory, Postgres, a third party's) runs it,
 * so they all keep the same promises. It is split like the port, one suite per role, plus the
 * promises that span roles (storable text, transactions, tenant isolation).
 *
 * `storeConformance` runs them all; call it at the top level of a test file. An adapter that
 * implements only some roles runs the suites of those roles: each names in its type the roles it
 * needs, and every suite seeds its firms through the `DirectoryStore` and
 * `ThreadStore.createThread` ({@link SeedingStore}).
 */
import { auditStoreConformance } from "./audit-store.js";
import { directoryStoreConformance } from "./directory-store.js";
import { filingStoreConformance } from "./filing-store.js";
import { notificationStoreConformance } from "./notification-store.js";
import type { StoreConformanceOptions } from "./options.js";
import { outboxStoreConformance } from "./outbox-store.js";
import { storableTextConformance } from "./storable-text.js";
import { syncStateStoreConformance } from "./sync-state-store.js";
import { storeTenantIsolationConformance } from "./tenant-isolation.js";
import { threadStoreConformance } from "./thread-store.js";
import { storeTransactionConformance } from "./transactions.js";

export type { StoreConformanceOptions, StoreRawReader, StoreUnderTest, Transactional } from "./options.js";
export type { SeedingStore } from "./fixtures.js";
export {
  auditStoreConformance,
  directoryStoreConformance,
  filingStoreConformance,
  notificationStoreConformance,
  outboxStoreConformance,
  storableTextConformance,
  syncStateStoreConformance,
  storeTenantIsolationConformance,
  threadStoreConformance,
  storeTransactionConformance,
};

/** Defines the whole suite: every role's, then the promises across roles. */
export function storeConformance(options: StoreConformanceOptions): void {
  directoryStoreConformance(options);
  syncStateStoreConformance(options);
  filingStoreConformance(options);
  threadStoreConformance(options);
  notificationStoreConformance(options);
  outboxStoreConformance(options);
  auditStoreConformance(options);
  storableTextConformance(options);
  storeTransactionConformance(options);
  storeTenantIsolationConformance(options);
}
