/**
 * The team's sync status (N5) and the quarantine (R2): for the firm's owner and admins, as the
 * seeds say ("Firm owner and admins can always check if email sync is set up for each team
 * member"). The SDK decides who may see them; an employee is answered 403 `permission_denied`.
 * An employee's own mailboxes and their state are at /api/mailboxes.
 *
 *   GET /api/sync/team                       → 200 { members: MemberSyncStatus[] }
 *   GET /api/sync/quarantine?mailboxId=      → 200 { entries: QuarantineEntry[] }
 */
import { Router } from "express";
import { z } from "zod";
import { idSchema } from "@clientmail/core";
import { member, requireMember } from "../http/session.js";
import { parse } from "../http/validate.js";
import type { Services } from "../services.js";

const quarantineQuery = z.strictObject({ mailboxId: idSchema.optional() });

export function syncRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  router.use("/sync", requireMember(services));

  router.get("/sync/team", async (_req, res) => {
    const who = member(res);
    res.json({ members: await cm.teamSyncStatus(who.firmId, who.id) });
  });

  router.get("/sync/quarantine", async (req, res) => {
    const who = member(res);
    const { mailboxId } = parse(quarantineQuery, req.query);
    const entries = await cm.quarantinedMessages(who.firmId, who.id, mailboxId ? { mailboxId } : {});
    res.json({ entries });
  });

  return router;
}
