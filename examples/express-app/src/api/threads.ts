/**
 * Client mail: an account's Email tab (H5: Inbox, Sent, Scheduled) with paging, Inbox+ (H4), a
 * thread's and a message's content made safe to show (sanitised HTML, remote images blocked
 * unless `images=allow`), attachments, the `.eml` export (R11), and muting a thread (H4). Every
 * team member reads the firm's client mail (the seeds: all team members see all email from a
 * synced address); nothing of another firm is found.
 *
 *   GET  /api/accounts/:accountId/threads?view=inbox|sent&limit=1..100&cursor=
 *                                                 → 200 { threads: ThreadSummary[], nextCursor }
 *   GET  /api/accounts/:accountId/threads?view=scheduled
 *                                                 → 200 { scheduled: ScheduledItem[] }
 *   GET  /api/inbox-plus?view=&limit=&cursor=     → 200 { threads: (ThreadSummary & { accountIds, muted })[], nextCursor }
 *   GET  /api/threads/:threadId?images=allow      → 200 { thread: { threadId, lastActivityAt, messages: RenderedMessage[], muted } }
 *   PUT  /api/threads/:threadId/mute  { muted }   → 200 { threadId, muted }   (for the member asking only)
 *   GET  /api/messages/:messageId?images=allow    → 200 { message: RenderedMessage }
 *   GET  /api/messages/:messageId/eml             → 200 message/rfc822 download
 *   GET  /api/messages/:messageId/attachments/:index → 200 the file (raster images inline)
 *
 * Listings carry no bodies (see thread-summary.ts); rendered messages carry `body.html`
 * (sanitised), `body.text`, `body.blockedRemoteImages` and `body.attachments`.
 */
import { Router } from "express";
import { z } from "zod";
import type { RenderableBodyOptions } from "@clientmail/core";
import { idParam } from "../http/ids.js";
import { member, requireMember } from "../http/session.js";
import { parse } from "../http/validate.js";
import type { Services } from "../services.js";
import { isInlineImage, sendAttachment, sendEml } from "./message-files.js";
import { threadSummary } from "./thread-summary.js";

const pageQuery = z.strictObject({
  view: z.enum(["inbox", "sent"]).default("inbox"),
  limit: z.coerce.number().int().min(1, "at least 1").max(100, "at most 100").default(25),
  cursor: z.string().min(1).max(1000).optional(),
});
const accountQuery = pageQuery.extend({ view: z.enum(["inbox", "sent", "scheduled"]).default("inbox") });
const renderQuery = z.strictObject({ images: z.enum(["block", "allow"]).default("block") });
const muteSchema = z.strictObject({ muted: z.boolean() });
const indexParam = z.object({ index: z.coerce.number().int().min(0, "0 or more").max(10_000) });

function renderOptions(urlOf: (index: number) => string, images: "block" | "allow"): RenderableBodyOptions {
  return {
    remoteImages: images,
    // cid: images are served by the app itself, raster types only.
    attachmentUrl: (attachment, index) => (isInlineImage(attachment.contentType) ? urlOf(index) : undefined),
  };
}

const attachmentPath = (messageId: string, index: number) =>
  `/api/messages/${encodeURIComponent(messageId)}/attachments/${index}`;

export function threadsRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  for (const path of ["/accounts/:accountId/threads", "/inbox-plus", "/threads", "/messages"])
    router.use(path, requireMember(services));

  router.get("/accounts/:accountId/threads", async (req, res) => {
    const who = member(res);
    const accountId = idParam(req, "accountId");
    const query = parse(accountQuery, req.query);
    if (query.view === "scheduled") {
      res.json({ scheduled: await cm.scheduledView(who.firmId, accountId) });
      return;
    }
    const page = await cm.accountThreadsPage(who.firmId, accountId, {
      view: query.view,
      limit: query.limit,
      ...(query.cursor ? { cursor: query.cursor } : {}),
    });
    res.json({ threads: page.threads.map(threadSummary), nextCursor: page.nextCursor ?? null });
  });

  router.get("/inbox-plus", async (req, res) => {
    const who = member(res);
    const query = parse(pageQuery, req.query);
    const page = await cm.inboxPlus(who.firmId, who.id, {
      view: query.view,
      limit: query.limit,
      ...(query.cursor ? { cursor: query.cursor } : {}),
    });
    res.json({
      threads: page.threads.map((t) => ({ ...threadSummary(t), accountIds: t.accountIds, muted: t.muted })),
      nextCursor: page.nextCursor ?? null,
    });
  });

  router.get("/threads/:threadId", async (req, res) => {
    const who = member(res);
    const threadId = idParam(req, "threadId");
    const { images } = parse(renderQuery, req.query);
    const stored = await cm.threadMessages(who.firmId, threadId);
    // Rendered per message, so each message's cid: images point at its own attachments.
    const messages = await Promise.all(
      stored.map((m) =>
        cm.renderMessage(
          who.firmId,
          m.id,
          renderOptions((i) => attachmentPath(m.id, i), images),
        ),
      ),
    );
    const muted = await cm.isThreadMuted(who.firmId, threadId, who.id);
    const lastActivityAt = new Date(Math.max(...stored.map((m) => m.date.getTime())));
    res.json({ thread: { threadId, lastActivityAt, messages, muted } });
  });

  router.put("/threads/:threadId/mute", async (req, res) => {
    const who = member(res);
    const threadId = idParam(req, "threadId");
    const { muted } = parse(muteSchema, req.body);
    await cm.threadMessages(who.firmId, threadId); // not_found for a thread the firm does not have
    await cm.muteThread(who.firmId, threadId, who.id, muted);
    res.json({ threadId, muted });
  });

  router.get("/messages/:messageId", async (req, res) => {
    const who = member(res);
    const messageId = idParam(req, "messageId");
    const { images } = parse(renderQuery, req.query);
    res.json({
      message: await cm.renderMessage(
        who.firmId,
        messageId,
        renderOptions((i) => attachmentPath(messageId, i), images),
      ),
    });
  });

  router.get("/messages/:messageId/eml", async (req, res) => {
    const who = member(res);
    await sendEml(res, cm, who.firmId, who.id, idParam(req, "messageId"));
  });

  router.get("/messages/:messageId/attachments/:index", async (req, res) => {
    const who = member(res);
    const messageId = idParam(req, "messageId");
    const { index } = parse(indexParam, req.params);
    await sendAttachment(res, cm, who.firmId, who.id, messageId, index);
  });

  return router;
}
