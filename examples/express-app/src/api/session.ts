/**
 * Signing up (a new firm and its owner), signing in and out, and who is signed in.
 *
 *   POST   /api/signup   { firmName, internalDomains?, name, email, password } → 201 { firm, member }
 *   POST   /api/session  { email, password } → 200 { member }          (401 unauthenticated)
 *   GET    /api/session  → 200 { member, firm, csrf }
 *   DELETE /api/session  → 204
 */
import { Router } from "express";
import { z } from "zod";
import { firmInputSchema, teamMemberInputSchema } from "@clientmail/core";
import { HttpError } from "../http/errors.js";
import { member, requireMember, signIn, signOut, session } from "../http/session.js";
import { parse } from "../http/validate.js";
import type { Services } from "../services.js";

const password = z.string().min(10, "at least 10 characters").max(200, "at most 200 characters");

const signupSchema = z.strictObject({
  firmName: z.string(),
  internalDomains: z.array(z.string()).optional(),
  name: z.string(),
  email: z.string(),
  password,
});

const signInSchema = z.strictObject({
  email: z.string().min(1, "an email address"),
  password: z.string().min(1, "a password"),
});

export function sessionRoutes(services: Services): Router {
  const router = Router();
  const { cm, users } = services;

  router.post("/signup", async (req, res) => {
    const input = parse(signupSchema, req.body);
    // Both inputs are checked before anything is written, so a bad owner leaves no firm behind.
    parse(firmInputSchema, { name: input.firmName, internalDomains: input.internalDomains ?? [] }, "firm");
    const owner = parse(teamMemberInputSchema, { name: input.name, email: input.email }, "owner");
    // Sign-in records are keyed by email across firms: signing up never takes over a login.
    if (await users.exists(owner.email))
      throw new HttpError(409, "conflict", `${owner.email} already has a login.`, "email");
    const firm = await cm.createFirm({ name: input.firmName, internalDomains: input.internalDomains ?? [] });
    const added = await cm.addMember(firm.id, { name: input.name, email: input.email, role: "owner" });
    await users.setPassword(added.email, { firmId: firm.id, memberId: added.id }, input.password);
    signIn(req, { firmId: firm.id, memberId: added.id });
    res.status(201).json({ firm, member: added });
  });

  router.post("/session", async (req, res) => {
    const input = parse(signInSchema, req.body);
    const who = await users.verify(input.email, input.password);
    if (!who) throw new HttpError(401, "unauthenticated", "The email or the password is wrong.");
    signIn(req, who);
    res.json({ member: await cm.getMember(who.firmId, who.memberId) });
  });

  router.get("/session", requireMember(services), async (req, res) => {
    const current = member(res);
    res.json({ member: current, firm: await cm.getFirm(current.firmId), csrf: session(req).csrf });
  });

  router.delete("/session", (req, res) => {
    signOut(req);
    res.status(204).end();
  });

  return router;
}
