/**
 * T2, T4, R8: with a job queue, invitation events are jobs of the transaction that changed the
 * link, handed by workers to the host's `invitations` handler — at least once, each identified by
 * its type and token — instead of facade events that a crash after the commit would lose.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryJobQueue, createMemoryStore } from "@clientmail/memory";
import { createClientMail, createWorker, type InvitationEvent } from "../src/index.js";
import { silentLogger } from "../src/ports/index.js";
import { TestClock } from "./engine/firm-fixture.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

async function setup() {
  const clock = new TestClock();
  const store = createMemoryStore({ clock });
  const queue = createMemoryJobQueue({ store, retryDelayMs: () => 10 });
  let n = 0;
  const cm = createClientMail({ store, clock, queue, newToken: () => `token-${++n}` });
  const emitted: string[] = [];
  cm.on("invitation.requested", () => emitted.push("invitation.requested"));
  cm.on("invitation.invalidated", () => emitted.push("invitation.invalidated"));
  const firm = await cm.createFirm({ name: "Ledger", internalDomains: ["ledger.example"] });
  const family = await cm.createAccount(firm.id, {
    name: "Jordan family",
    kind: "family",
    contacts: [
      { firstName: "Jo", emails: [{ email: "jo@home.example" }] },
      { firstName: "Sam", emails: [{ email: "sam@home.example" }] },
    ],
  });
  const [jo, sam] = family.links;
  const delivered: InvitationEvent[] = [];
  const startWorker = async (deliver?: (event: InvitationEvent) => Promise<void>) => {
    const worker = createWorker({
      store,
      queue,
      clock,
      logger: silentLogger,
      holder: "invitations",
      providerFor: () => {
        throw new Error("no mailboxes here");
      },
      queuePollIntervalMs: 10,
      invitations: async (event) => {
        await deliver?.(event);
        delivered.push(event);
      },
    });
    await worker.start();
    cleanups.push(() => worker.stop({ timeoutMs: 500 }));
    return worker;
  };
  cleanups.push(() => queue.close());
  return { cm, store, queue, firm, jo: jo!, sam: sam!, emitted, delivered, startWorker };
}

describe("invitation events as jobs", () => {
  it("T2 R8: with a queue, turning login on enqueues the invitation in the same transaction; a worker hands it to the host, and the facade emits nothing", async () => {
    const f = await setup();
    const before = (await f.queue.stats()).waiting;
    await f.cm.updateLink(f.firm.id, f.jo.id, { login: true, invitationMessage: "Welcome" });
    expect((await f.queue.stats()).waiting).toBe(before + 1);
    // A call that fails enqueues nothing.
    await expect(f.cm.updateLink(f.firm.id, "no-such-link", { login: true })).rejects.toThrow();
    expect((await f.queue.stats()).waiting).toBe(before + 1);
    expect(f.emitted).toEqual([]);
    await f.startWorker();
    await eventually(() => f.delivered.length === 1, "the invitation");
    expect(f.delivered).toEqual([
      {
        type: "invitation.requested",
        firmId: f.firm.id,
        linkId: f.jo.id,
        email: "jo@home.example",
        token: "token-1",
        customMessage: "Welcome",
      },
    ]);
    expect(f.emitted).toEqual([]);
  });

  it("T2 T4 R8: a host that fails is retried until it succeeds; withdrawals (login off, deleting the link) are delivered too, and an invitation withdrawn before it ran is not sent", async () => {
    const f = await setup();
    await f.cm.updateLink(f.firm.id, f.jo.id, { login: true });
    // Sam's invitation is withdrawn before any worker runs: only the withdrawal goes out.
    await f.cm.updateLink(f.firm.id, f.sam.id, { login: true });
    await f.cm.updateLink(f.firm.id, f.sam.id, { login: false });
    let failures = 2;
    await f.startWorker(async () => {
      if (failures-- > 0) throw new Error("mail server down");
    });
    await eventually(() => f.delivered.length === 2, "two events");
    expect(f.delivered.map((e) => [e.type, e.token]).sort()).toEqual([
      ["invitation.invalidated", "token-2"],
      ["invitation.requested", "token-1"],
    ]);
    await f.cm.deleteLink(f.firm.id, f.jo.id);
    await eventually(() => f.delivered.length === 3, "the withdrawal of a deleted link");
    expect(f.delivered[2]).toMatchObject({ type: "invitation.invalidated", token: "token-1" });
    expect(await f.queue.listFailed()).toEqual([]);
    expect(f.emitted).toEqual([]);
  });

  it("T2: without a queue the facade still emits the invitation events after the commit", async () => {
    const clock = new TestClock();
    const store = createMemoryStore({ clock });
    const cm = createClientMail({ store, clock, newToken: () => "t" });
    const events: string[] = [];
    cm.on("invitation.requested", (e) => events.push(`requested:${e.token}`));
    cm.on("invitation.invalidated", (e) => events.push(`invalidated:${e.token}`));
    const firm = await cm.createFirm({ name: "Ledger", internalDomains: ["ledger.example"] });
    const family = await cm.createAccount(firm.id, {
      name: "Jordan family",
      kind: "family",
      contacts: [{ firstName: "Jo", emails: [{ email: "jo@home.example", login: true }] }],
    });
    await cm.deleteLink(firm.id, family.links[0]!.id);
    expect(events).toEqual(["requested:t", "invalidated:t"]);
  });
});
