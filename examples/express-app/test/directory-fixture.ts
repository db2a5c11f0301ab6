/**
 * What the directory API tests share: a client account made through the SDK, and a signed-in
 * member of another firm, who must see none of this firm's records.
 */
import type { AccountOverview, Link } from "@clientmail/core";
import supertest from "supertest";
import { password, type TestApp } from "./harness.js";

let rivals = 0;

/** An agent signed in as the owner of a second firm. */
export async function rivalFirmOwner(t: TestApp): Promise<supertest.Agent> {
  const n = ++rivals;
  const firm = await t.services.cm.createFirm({ name: `Rival Books ${n}` });
  const email = `rita${n}@rival.example`;
  const owner = await t.services.cm.addMember(firm.id, { name: "Rita Rival", email, role: "owner" });
  await t.services.users.setPassword(email, { firmId: firm.id, memberId: owner.id }, password);
  const agent = supertest.agent(t.app);
  await agent.post("/api/session").send({ email, password }).expect(200);
  return agent;
}

/** The account "Acme Ltd" with one contact, Jo Acme, at `jo@<domain>` (notify on, the rest off). */
export async function acmeAccount(
  t: TestApp,
  domain = "acme.example",
): Promise<AccountOverview & { jo: Link }> {
  const overview = await t.services.cm.createAccount(t.firm.id, {
    name: `Acme Ltd (${domain})`,
    kind: "business",
    contacts: [{ firstName: "Jo", lastName: "Acme", emails: [{ email: `jo@${domain}` }] }],
  });
  return { ...overview, jo: overview.links[0]! };
}
