/**
 * One link (account, contact, address) and its settings. Every member changes the four toggles
 * and notify preferences of a link (T1, T2, T5, T7: turning email sync on queues the backfill of
 * that address's history); the owner and admins change a link's address (T4) or delete it. A
 * client accepts their portal invitation with the token from their email (T2), without a
 * session: the token is the credential, and it is sent in the body so it stays out of URLs and
 * access logs.
 *
 *   PATCH  /api/links/:linkId          { login?, notify?, emailSync?, signatory?, notifyPreferences?, sendInvitation?, invitationMessage? } → 200 { link }
 *   PUT    /api/links/:linkId/email    { email } → 200 { link }   owner, admin (T4)
 *   DELETE /api/links/:linkId          → 204   owner, admin
 *   POST   /api/invitations/accept     { firmId, token } → 200 { accountId, email, status }   no session
 */
import { Router } from "express";
import { z } from "zod";
import type { LinkPatchInput } from "@clientmail/core";
import { body, id } from "../http/request-parts.js";
import { member, requireMember, requireRole } from "../http/session.js";
import { parse } from "../http/validate.js";
import type { Services } from "../services.js";
import { linkView } from "./directory-views.js";

const addressSchema = z.strictObject({ email: z.string({ error: "an email address" }) });

const acceptSchema = z.strictObject({
  firmId: z
    .string({ error: "the firm id from the invitation link" })
    .min(1, "the firm id from the invitation link"),
  token: z
    .string({ error: "the token from the invitation link" })
    .min(1, "the token from the invitation link"),
});

export function linksRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  const manage = requireRole("owner", "admin");

  router.post("/invitations/accept", async (req, res) => {
    const { firmId, token } = parse(acceptSchema, body(req));
    const link = await cm.acceptInvitation(firmId, token);
    res.json({ accountId: link.accountId, email: link.email, status: link.invitation?.status });
  });

  router.use("/links", requireMember(services));

  router.patch("/links/:linkId", async (req, res) => {
    const link = await cm.updateLink(member(res).firmId, id(req, "linkId"), body(req) as LinkPatchInput);
    res.json({ link: linkView(link) });
  });

  router.put("/links/:linkId/email", manage, async (req, res) => {
    const { email } = parse(addressSchema, body(req));
    const link = await cm.changeLinkAddress(member(res).firmId, id(req, "linkId"), email);
    res.json({ link: linkView(link) });
  });

  router.delete("/links/:linkId", manage, async (req, res) => {
    await cm.deleteLink(member(res).firmId, id(req, "linkId"));
    res.status(204).end();
  });

  return router;
}
