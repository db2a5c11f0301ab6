/**
 * What every Store conformance suite takes: the store under test, a raw reader of its backend,
 * and how to move its lease clock.
 */
import { describe } from "vitest";
import type { Store } from "@clientmail/core/ports";

/** Reads what the backend really holds, bypassing the adapter's own read paths. */
export interface StoreRawReader {
  /** Filed messages of the firm as stored, hidden ones included. */
  countMessages(firmId: string): Promise<number>;
  /** Sightings (mailbox, provider id) of the firm's messages as stored. */
  countSightings(firmId: string): Promise<number>;
  /** The credentials value exactly as stored for the mailbox. */
  storedCredentials(firmId: string, mailboxId: string): Promise<string | undefined>;
}

/**
 * One store to test, with a raw reader of the same backend. `S` is the roles a suite needs
 * (see each suite); `storeConformance` needs the whole `Store`.
 */
export interface StoreUnderTest<S = Store> {
  store: S;
  raw: StoreRawReader;
}

export interface StoreConformanceOptions<S = Store> {
  /** Shown in the suite's name. */
  name: string;
  /** A store to test. Tests create their own firms, so a shared, already-migrated backend is fine. */
  makeStore: () => Promise<StoreUnderTest<S>>;
  /**
   * Moves the store's lease clock forward by `ms`. Stores that take time from the database wait
   * in real time (the default).
   */
  advanceClock?: (ms: number) => Promise<void>;
}

/**
 * Roles `S` with transactions over them, as `Store.transaction` runs them: the callback
 * receives the same roles. Every `Store` is one, whichever of its roles `S` names.
 */
export type Transactional<S> = S & {
  transaction<T>(fn: (tx: Transactional<S>) => Promise<T>): Promise<T>;
};

/** Declares one suite's tests under `Store conformance: <name> > <title>`. */
export function describeStoreSuite(options: { name: string }, title: string, tests: () => void): void {
  describe(`Store conformance: ${options.name}`, () => {
    describe(title, tests);
  });
}
