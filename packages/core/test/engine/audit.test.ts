/**
 * The completeness audit through the engine and a real store: it finds client mail that is
 * neither filed nor quarantined — here removed behind the engine's back, or skipped by a cursor
 * that moved past it — and repairs it.
 */
import { describe, expect, it } from "vitest";
import { auditMailbox } from "../../src/internal.js";
import { silentLogger } from "../../src/ports/index.js";
import { at, makeFirm, minutes, type Firm } from "./firm-fixture.js";
import { engineStores } from "./stores.js";

function deps(f: Firm) {
  return { store: f.store, clock: f.clock, logger: silentLogger, events: f.events, random: () => 0.5 };
}

async function subjects(f: Firm): Promise<string[]> {
  const threads = await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, {
    view: "inbox",
    limit: 500,
  });
  return threads.flatMap((t) => t.messages.map((m) => m.subject)).sort();
}

describe.each(engineStores)("completeness audit on the $name", ({ make }) => {
  it("R1, R2: a mailbox whose client mail is all filed is verified complete; personal mail is not counted", async () => {
    const f = await makeFirm({ makeStore: make });
    const box = f.boxes.ann.id;
    for (let i = 0; i < 4; i++)
      f.box(box).append({
        from: [at("jo@home.example")],
        to: [at("ann@ledger.example")],
        subject: `Doc ${i}`,
        messageId: `<a${i}@home>`,
        date: minutes(i),
      });
    f.box(box).append({
      from: [at("friend@personal.example")],
      to: [at("ann@ledger.example")],
      subject: "Dinner",
      date: minutes(9),
    });
    await f.sync(box).syncOnce();
    const verification = await auditMailbox(deps(f), f.box(box).provider(), f.firm.id, box);
    expect(verification).toMatchObject({ complete: true, clientMessages: 4, missing: 0, repaired: 0 });
    expect((await f.store.getMailbox(f.firm.id, box))!.verification).toEqual(verification);
  });

  it("R1, R2: client mail deleted from the store behind the engine's back is found and filed again; the status says what was missing", async () => {
    const f = await makeFirm({ makeStore: make });
    const box = f.boxes.ann.id;
    for (let i = 0; i < 5; i++)
      f.box(box).append({
        from: [at("jo@home.example")],
        to: [at("ann@ledger.example")],
        subject: `Doc ${i}`,
        messageId: `<b${i}@home>`,
        date: minutes(i),
      });
    await f.sync(box).syncOnce();
    const gone = await f.store.findMessagesByMessageIds(f.firm.id, ["b1@home", "b3@home"]);
    expect(
      await f.store.eraseMessages(
        f.firm.id,
        gone.map((m) => m.id),
      ),
    ).toBe(2);
    expect(await subjects(f)).toEqual(["Doc 0", "Doc 2", "Doc 4"]);
    // Ordinary passes do not notice: the cursor is past those messages.
    await f.sync(box).syncOnce();
    expect(await subjects(f)).toHaveLength(3);
    const verification = await auditMailbox(deps(f), f.box(box).provider(), f.firm.id, box);
    expect(verification).toMatchObject({
      complete: false,
      clientMessages: 5,
      missing: 2,
      repaired: 2,
      quarantined: 0,
    });
    expect(await subjects(f)).toEqual(["Doc 0", "Doc 1", "Doc 2", "Doc 3", "Doc 4"]);
    expect(await auditMailbox(deps(f), f.box(box).provider(), f.firm.id, box)).toMatchObject({
      complete: true,
    });
  });

  it("R1, R2: client mail a cursor skipped over (the outage loss of an older engine) is filed, or quarantined with its reason", async () => {
    const f = await makeFirm({ makeStore: make });
    const box = f.boxes.ann.id;
    await f.sync(box).syncOnce();
    const skipped = f.box(box).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Skipped",
      messageId: "<skipped@home>",
      date: minutes(1),
    });
    const broken = f.box(box).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Broken",
      messageId: "<broken@home>",
      date: minutes(2),
    });
    // Move the cursor past both as a buggy pass would have, without filing them.
    const token = (await f.store.acquireLease(f.firm.id, box, "old-engine", 60_000))!;
    await f.store.setCursor(f.firm.id, box, token, String(Number.MAX_SAFE_INTEGER));
    await f.store.releaseLease(f.firm.id, box, token);
    f.box(box).failFetchOf(broken, 1, "unparseable");
    const verification = await auditMailbox(deps(f), f.box(box).provider(), f.firm.id, box);
    expect(verification).toMatchObject({ complete: false, missing: 2, repaired: 1, quarantined: 1 });
    expect(await subjects(f)).toEqual(["Skipped"]);
    expect(await f.store.listQuarantine(f.firm.id)).toMatchObject([
      { providerId: broken, reason: "unparseable" },
    ]);
    expect(skipped).toBeDefined();
  });
});
