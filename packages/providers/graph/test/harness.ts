/**
 * Shared set-up for the Graph adapter tests: a Graph fake, a mailbox, and a provider wired to
 * the fake's `fetch`, with recorded (instant) sleeps and a controllable clock.
 */
import {
  createGraphFake,
  type GraphFake,
  type GraphFakeMailbox,
  type GraphFakeOptions,
} from "@clientmail/testkit";
import { createGraphProvider, type GraphProvider, type GraphProviderSettings } from "../src/index.js";

export interface Harness {
  fake: GraphFake;
  mailbox: GraphFakeMailbox;
  provider: GraphProvider;
  sleeps: number[];
  clock: { now(): Date; advance(ms: number): void };
  tokenCalls: { forceRefresh: boolean }[];
}

let counter = 0;

/** A unique mailbox address, so no two tests ever meet in the fake's per-mailbox limits. */
export function uniqueAddress(local = "ann"): string {
  counter += 1;
  return `${local}.${process.pid}.${counter}.${Date.now()}@firm.example`;
}

export function manualClock(start = new Date("2026-03-02T09:00:00Z")): Harness["clock"] {
  let now = start.getTime();
  return { now: () => new Date(now), advance: (ms) => void (now += ms) };
}

export function createHarness(
  options: { fake?: GraphFakeOptions; provider?: Partial<GraphProviderSettings>; address?: string } = {},
): Harness {
  const clock = manualClock();
  const fake = createGraphFake({ clock, ...options.fake });
  const address = options.address ?? uniqueAddress();
  const mailbox = fake.addMailbox(address);
  const sleeps: number[] = [];
  const tokenCalls: { forceRefresh: boolean }[] = [];
  const token = fake.accessTokenFor(address);
  const provider = createGraphProvider({
    mailbox: address,
    getAccessToken: async (o) => {
      tokenCalls.push(o);
      return token;
    },
    fetch: fake.fetch,
    clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.advance(ms);
    },
    random: () => 1,
    ...options.provider,
  });
  return { fake, mailbox, provider, sleeps, clock, tokenCalls };
}

/** Runs a full `changes` pass and returns every page. */
export async function collect(provider: GraphProvider, cursor: string | undefined) {
  const pages = [];
  for await (const page of provider.changes(cursor)) pages.push(page);
  return pages;
}

/** Runs a pass and returns the final cursor with the union of added and removed ids. */
export async function pass(provider: GraphProvider, cursor: string | undefined) {
  const pages = await collect(provider, cursor);
  const last = pages.at(-1);
  if (!last?.done) throw new Error("pass did not finish");
  return {
    pages,
    cursor: last.cursor,
    added: pages.flatMap((p) => p.added.map((e) => e.providerId)),
    removed: pages.flatMap((p) => p.removed),
    envelopes: pages.flatMap((p) => p.added),
  };
}

export function clientMessage(index: number, extra: Record<string, unknown> = {}) {
  return {
    from: { name: "Carla Client", address: "Carla@Client.example" },
    to: ["ann@firm.example"],
    subject: `Invoice ${index}`,
    text: `Please find invoice ${index}.`,
    date: new Date(Date.UTC(2026, 1, 1, 9, index)),
    ...extra,
  };
}

/** Timers fired by hand: `fireNext()` runs the earliest pending callback. */
export function manualTimers() {
  let nextId = 0;
  const pending = new Map<number, { at: number; callback: () => void }>();
  let now = 0;
  return {
    setTimeout(callback: () => void, ms: number): unknown {
      nextId += 1;
      pending.set(nextId, { at: now + ms, callback });
      return nextId;
    },
    clearTimeout(handle: unknown): void {
      pending.delete(handle as number);
    },
    /** Delays of the pending timers, soonest first. */
    delays(): number[] {
      return [...pending.values()].map((t) => t.at - now).sort((a, b) => a - b);
    },
    /** Runs the earliest timer; returns its delay, or undefined when none is pending. */
    fireNext(): number | undefined {
      const entry = [...pending.entries()].sort((a, b) => a[1].at - b[1].at)[0];
      if (!entry) return undefined;
      pending.delete(entry[0]);
      const delay = entry[1].at - now;
      now = entry[1].at;
      entry[1].callback();
      return delay;
    },
  };
}
