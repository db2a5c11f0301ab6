/**
 * R3 over a real socket: the Gmail fake served on a loopback HTTP port behind the testkit's TCP
 * proxy, and the provider on Node's own `fetch`. A half-open and a trickling server must fail the
 * call as `transient` within the request deadline, and an abort must end it within a second.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ClientMailError } from "@clientmail/core";
import {
  createGmailFake,
  startHttpBridge,
  startTcpProxy,
  type HttpBridge,
  type TcpProxy,
} from "@clientmail/testkit";
import { createGmailProvider, type GmailProvider } from "../src/index.js";
import { raw } from "./harness.js";

const owner = "ann@firm.com";

async function rejection(
  promise: Promise<unknown>,
  limitMs: number,
): Promise<{ error: unknown; tookMs: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    promise.then(
      () => "resolved" as const,
      (error: unknown) => ({ error }),
    ),
    new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), limitMs))),
  ]);
  clearTimeout(timer);
  if (outcome === "timeout") throw new Error(`still running after ${limitMs} ms`);
  if (outcome === "resolved") throw new Error("expected a failure");
  return { error: outcome.error, tookMs: Date.now() - started };
}

async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

describe("Gmail provider over a real socket (R3)", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function setup(): Promise<{ provider: GmailProvider; proxy: TcpProxy; bridge: HttpBridge }> {
    const fake = createGmailFake();
    const mailbox = fake.addUser(owner);
    // A message big enough that its raw source cannot arrive while the proxy trickles.
    mailbox.addMessage({ raw: raw({ text: "x".repeat(200_000) }) });
    const bridge = await startHttpBridge(fake.fetch, (path) =>
      path.startsWith("/token")
        ? "https://oauth2.googleapis.com/token"
        : `https://gmail.googleapis.com${path}`,
    );
    const proxy = await startTcpProxy(bridge);
    const provider = createGmailProvider({
      credentials: { ...fake.oauthClient, refreshToken: fake.refreshTokenOf(owner)! },
      baseUrl: `http://${proxy.host}:${proxy.port}`,
      tokenUrl: `http://${proxy.host}:${proxy.port}/token`,
      allowInsecure: true,
      requestTimeoutMs: 1000,
    });
    cleanup.push(
      () => bridge.close(),
      () => proxy.close(),
      () => provider.close(),
    );
    return { provider, proxy, bridge };
  }

  it("R3: a half-open server fails changes as transient at the request deadline, and the next call works", async () => {
    const { provider, proxy } = await setup();
    await drain(provider.changes(undefined));
    proxy.blackhole();
    const { error, tookMs } = await rejection(drain(provider.changes(undefined)), 5000);
    expect(ClientMailError.hasCode(error, "transient"), String(error)).toBe(true);
    expect((error as ClientMailError).details.reason).toBe("deadline_exceeded");
    expect(tookMs).toBeLessThan(2500);
    proxy.pass();
    expect((await drain(provider.changes(undefined))).flatMap((page) => page.added)).toHaveLength(1);
  });

  it("R3: a server trickling its response fails fetch as transient at the deadline, the body read included", async () => {
    const { provider, proxy } = await setup();
    const [envelope] = (await drain(provider.changes(undefined))).flatMap((page) => page.added);
    proxy.trickle({ bytes: 100, everyMs: 50 });
    const { error, tookMs } = await rejection(drain(provider.fetch([envelope!.providerId])), 5000);
    expect(ClientMailError.hasCode(error, "transient"), String(error)).toBe(true);
    expect((error as ClientMailError).details.reason).toBe("deadline_exceeded");
    expect(tookMs).toBeLessThan(2500);
  });

  it("R3: aborting the signal ends a call stuck on a half-open server within a second", async () => {
    const { provider, proxy } = await setup();
    await drain(provider.changes(undefined));
    proxy.blackhole();
    const controller = new AbortController();
    const reason = new ClientMailError("lease_lost", "another worker took the mailbox");
    setTimeout(() => controller.abort(reason), 200);
    const { error, tookMs } = await rejection(
      drain(provider.changes(undefined, { signal: controller.signal })),
      3000,
    );
    expect(error).toBe(reason);
    expect(tookMs).toBeLessThan(1200);
  });
});
