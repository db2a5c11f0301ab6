/**
 * R8 Y2: the push registrar the worker's jobs drive. The worker subscribes a mailbox only when it
 * has recorded nothing for it, so subscriptions of ours that Graph still holds then were created by
 * a subscribe whose result was never recorded (the process died in between): `subscribe` removes
 * them before creating new ones. Subscriptions of other mailboxes, or to another notification URL,
 * are left alone.
 */
import { describe, expect, it } from "vitest";
import { createGraphFake } from "@clientmail/testkit";
import { createGraphProvider } from "../src/index.js";

const notificationUrl = "https://hooks.firm.example/graph";

function setup() {
  const fake = createGraphFake({
    deliver: async (request) => {
      const token = new URL(request.url).searchParams.get("validationToken");
      return token === null
        ? new Response(null, { status: 202 })
        : new Response(token, { headers: { "Content-Type": "text/plain" } });
    },
  });
  const provider = (address: string, url = notificationUrl) => {
    fake.addMailbox(address);
    const token = fake.accessTokenFor(address);
    return createGraphProvider({
      mailbox: address,
      getAccessToken: async () => token,
      fetch: fake.fetch,
      push: { notificationUrl: url },
    });
  };
  return { fake, provider };
}

describe("graph adapter: push registrar", () => {
  it("R8 Y2: subscribe removes this mailbox's unrecorded subscriptions to our URL first; other mailboxes' and other URLs' stay", async () => {
    const { fake, provider } = setup();
    const ann = provider("ann@firm.example");
    const bob = provider("bob@firm.example");
    const annElsewhere = provider("ann@firm.example", "https://other-app.example/graph");
    const lost = await ann.push!.subscribe();
    const bobs = await bob.push!.subscribe();
    const other = await annElsewhere.push!.subscribe();
    expect(fake.subscriptions()).toHaveLength(6);
    // The first result was never recorded: the retry replaces it.
    const again = await ann.push!.subscribe();
    const ids = fake.subscriptions().map((s) => s.id);
    expect(ids).toHaveLength(6);
    for (const r of lost) expect(ids).not.toContain(r.id);
    for (const r of [...again, ...bobs, ...other]) expect(ids).toContain(r.id);
    expect(again.map((r) => r.resource).sort()).toEqual(lost.map((r) => r.resource).sort());
  });
});
