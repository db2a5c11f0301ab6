/**
 * Inbox+ notifications of the member signed in (N1–N4): list, "remind me later" (hidden 24
 * hours, N3), "don't show again" (N3). Listing first raises the sync-health notices that are due
 * (N2: "your email is not synced", "sync stopped — reconnect"); they are raised once and stay
 * snoozed or dismissed as the member left them. A member acts only on their own notifications:
 * another member's (or another firm's) is not found.
 *
 *   GET  /api/notifications                         → 200 { notifications }
 *   POST /api/notifications/:notificationId/snooze  → 200 { notification }   (hidden 24 h)
 *   POST /api/notifications/:notificationId/dismiss → 204
 */
import { Router } from "express";
import type { TeamMember } from "@clientmail/core";
import type { Notification } from "@clientmail/core/ports";
import { HttpError } from "../http/errors.js";
import { idParam } from "../http/ids.js";
import { member, requireMember } from "../http/session.js";
import type { Services } from "../services.js";

export function notificationsRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  router.use("/notifications", requireMember(services));

  /** One of the member's visible notifications; 404 for anything else. */
  async function own(who: TeamMember, notificationId: string): Promise<Notification> {
    const found = (await cm.notifications(who.firmId, who.id)).find((n) => n.id === notificationId);
    if (!found)
      throw new HttpError(404, "not_found", `You have no notification ${notificationId} to act on.`);
    return found;
  }

  router.get("/notifications", async (_req, res) => {
    const who = member(res);
    await cm.refreshSyncHealth(who.firmId);
    res.json({ notifications: await cm.notifications(who.firmId, who.id) });
  });

  router.post("/notifications/:notificationId/snooze", async (req, res) => {
    const who = member(res);
    const notification = await own(who, idParam(req, "notificationId"));
    await cm.snoozeNotification(who.firmId, notification.id);
    res.json({
      notification: { ...notification, snoozedUntil: new Date(Date.now() + 24 * 60 * 60 * 1000) },
    });
  });

  router.post("/notifications/:notificationId/dismiss", async (req, res) => {
    const who = member(res);
    const notification = await own(who, idParam(req, "notificationId"));
    await cm.dismissNotification(who.firmId, notification.id);
    res.status(204).end();
  });

  return router;
}
