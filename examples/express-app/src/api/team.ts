/**
 * The firm and its team members. Every member reads; the owner changes the firm; the owner and
 * admins add members (only the owner adds another owner); each member changes their own
 * notification settings (N1). See docs/decisions.md, "Roles in the directory API".
 *
 *   GET    /api/firm                           → 200 { firm }
 *   PATCH  /api/firm                           { name?, internalDomains?, deletionMode? } → 200 { firm }   owner
 *   GET    /api/team/members                   → 200 { members }
 *   GET    /api/team/members/:memberId         → 200 { member }
 *   POST   /api/team/members                   { name, email, role?, password, timeZone? } → 201 { member }   owner, admin
 *   PATCH  /api/team/me/notifications          { newMailNotifications?, timeZone? } → 200 { member }
 */
import { Router } from "express";
import { z } from "zod";
import { firmPatchSchema, memberNotificationsSchema, teamMemberInputSchema } from "@clientmail/core";
import { HttpError } from "../http/errors.js";
import { body, id } from "../http/request-parts.js";
import { member, requireMember, requireRole } from "../http/session.js";
import { parse } from "../http/validate.js";
import type { Services } from "../services.js";

const newMemberSchema = z.strictObject({
  name: z.string(),
  email: z.string(),
  role: z.enum(["owner", "admin", "employee"]).default("employee"),
  password: z.string().min(10, "at least 10 characters").max(200, "at most 200 characters"),
  timeZone: z.string().optional(),
});

export function teamRoutes(services: Services): Router {
  const router = Router();
  const { cm, users } = services;
  router.use(["/firm", "/team"], requireMember(services));

  router.get("/firm", async (_req, res) => {
    res.json({ firm: await cm.getFirm(member(res).firmId) });
  });

  router.patch("/firm", requireRole("owner"), async (req, res) => {
    const patch = parse(firmPatchSchema, body(req));
    res.json({ firm: await cm.updateFirm(member(res).firmId, patch) });
  });

  router.get("/team/members", async (_req, res) => {
    res.json({ members: await cm.listMembers(member(res).firmId) });
  });

  router.get("/team/members/:memberId", async (req, res) => {
    res.json({ member: await cm.getMember(member(res).firmId, id(req, "memberId")) });
  });

  router.post("/team/members", requireRole("owner", "admin"), async (req, res) => {
    const { password, ...input } = parse(newMemberSchema, body(req));
    const details = parse(teamMemberInputSchema, input);
    if (input.timeZone !== undefined) parse(memberNotificationsSchema, { timeZone: input.timeZone });
    if (details.role === "owner" && member(res).role !== "owner")
      throw new HttpError(403, "permission_denied", "Only the firm's owner may add another owner.", "role");
    // Sign-in records are keyed by email across firms: a new member never takes over a login.
    if (await users.exists(details.email))
      throw new HttpError(409, "conflict", `${details.email} already has a login.`, "email");
    const added = await cm.addMember(member(res).firmId, details);
    await users.setPassword(added.email, { firmId: added.firmId, memberId: added.id }, password);
    res.status(201).json({ member: added });
  });

  router.patch("/team/me/notifications", async (req, res) => {
    const patch = parse(memberNotificationsSchema, body(req));
    const current = member(res);
    res.json({ member: await cm.updateMemberNotifications(current.firmId, current.id, patch) });
  });

  return router;
}
