/**
 * Sending: compose to one account or many (S1, templates with shortcodes S2, the mailbox's
 * signature S3), reply in a thread (S6, P3), schedule (S4), reschedule, cancel, decide on a held
 * message, and system notifications to clients (T5, T6). The member signed in is the actor
 * (P4); whether they may use a mailbox is the SDK's decision (P1–P5), answered as 403
 * `permission_denied` or 409 `mailbox_unavailable`, never re-decided here.
 *
 *   GET    /api/send/shortcodes                     → 200 { shortcodes }
 *   POST   /api/send   { mailboxId, accountIds, to?: "notify" | addresses, cc?, bcc?, subject,
 *                        text?, html?, sendAt? }     → 201 { messages, skipped }
 *   POST   /api/threads/:threadId/reply  { mailboxId?, replyAll?, cc?, bcc?, subject?, text?,
 *                        html?, sendAt? }            → 201 { message }
 *   PATCH  /api/outbox/:outboxId  { sendAt?, subject?, text?, html? }  → 200 { message }
 *   DELETE /api/outbox/:outboxId                     → 204
 *   POST   /api/outbox/:outboxId/release  { action: "resend" | "mark_sent" }  → 200 { message }
 *   POST   /api/client-notifications  { mailboxId, accountIds, category, subject, text?, html?,
 *                        sendAt? }                   → 201 { messages, skipped }
 *
 * `sendAt` is an ISO 8601 date-time with its offset (`2026-12-03T09:00:00Z`); without it the
 * message goes now. Queued messages are sent by the workers.
 */
import { Router } from "express";
import { z } from "zod";
import { notifyCategories, shortcodes } from "@clientmail/core";
import { idParam } from "../http/ids.js";
import { member, requireMember } from "../http/session.js";
import { parse } from "../http/validate.js";
import type { Services } from "../services.js";

const sendAt = z.iso
  .datetime({ offset: true, error: "an ISO 8601 date-time with its offset, such as 2026-12-03T09:00:00Z" })
  .transform((value) => new Date(value))
  .optional();
const addresses = z.array(z.string()).optional();
const texts = { text: z.string().optional(), html: z.string().optional() };

const composeSchema = z.strictObject({
  mailboxId: z.string(),
  accountIds: z.array(z.string()),
  to: z.union([z.literal("notify"), z.array(z.string())]).optional(),
  cc: addresses,
  bcc: addresses,
  subject: z.string(),
  ...texts,
  sendAt,
});
const replySchema = z.strictObject({
  mailboxId: z.string().optional(),
  replyAll: z.boolean().optional(),
  cc: addresses,
  bcc: addresses,
  subject: z.string().optional(),
  ...texts,
  sendAt,
});
const rescheduleSchema = z.strictObject({ subject: z.string().optional(), ...texts, sendAt });
const releaseSchema = z.strictObject({ action: z.enum(["resend", "mark_sent"]) });
const notificationSchema = z.strictObject({
  mailboxId: z.string(),
  accountIds: z.array(z.string()),
  category: z.enum(notifyCategories),
  subject: z.string(),
  ...texts,
  sendAt,
});

/** The object without its undefined fields (the SDK's strict inputs are given only what was sent). */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function sendingRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  for (const path of ["/send", "/threads/:threadId/reply", "/outbox", "/client-notifications"])
    router.use(path, requireMember(services));

  router.get("/send/shortcodes", (_req, res) => {
    res.json({ shortcodes: shortcodes.map((name) => `[${name}]`) });
  });

  router.post("/send", async (req, res) => {
    const who = member(res);
    const input = parse(composeSchema, req.body);
    const result = await cm.send(
      who.firmId,
      defined({ actor: { kind: "member", memberId: who.id }, ...input }),
    );
    res.status(201).json(result);
  });

  router.post("/threads/:threadId/reply", async (req, res) => {
    const who = member(res);
    const threadId = idParam(req, "threadId");
    const input = parse(replySchema, req.body);
    const message = await cm.reply(
      who.firmId,
      defined({ actor: { kind: "member", memberId: who.id }, threadId, ...input }),
    );
    res.status(201).json({ message });
  });

  router.patch("/outbox/:outboxId", async (req, res) => {
    const who = member(res);
    const outboxId = idParam(req, "outboxId");
    const input = parse(rescheduleSchema, req.body);
    res.json({ message: await cm.reschedule(who.firmId, outboxId, defined({ by: who.id, ...input })) });
  });

  router.delete("/outbox/:outboxId", async (req, res) => {
    const who = member(res);
    await cm.cancel(who.firmId, idParam(req, "outboxId"), who.id);
    res.status(204).end();
  });

  router.post("/outbox/:outboxId/release", async (req, res) => {
    const who = member(res);
    const outboxId = idParam(req, "outboxId");
    const { action } = parse(releaseSchema, req.body);
    res.json({ message: await cm.releaseHeld(who.firmId, outboxId, { by: who.id, action }) });
  });

  router.post("/client-notifications", async (req, res) => {
    const who = member(res);
    const input = parse(notificationSchema, req.body);
    const result = await cm.notifyClients(
      who.firmId,
      defined({ actor: { kind: "member", memberId: who.id }, ...input }),
    );
    res.status(201).json(result);
  });

  return router;
}
