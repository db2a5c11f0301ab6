/**
 * The firm's mailboxes: their sync state (N5), settings (Y3), stopping sync (Y4), syncing now,
 * the completeness re-check, and adding a member to a shared mailbox. Connecting a mailbox is the
 * connect flows' (/connect). Who may do what:
 *
 *   GET    /api/mailboxes                      every member; owners and admins see every mailbox
 *                                               with its state, an employee their own and the
 *                                               ones they may send from   → 200 { mailboxes }
 *   GET    /api/mailboxes/:mailboxId           as above                     → 200 { mailbox }
 *   PATCH  /api/mailboxes/:mailboxId/settings  { autoSaveAttachments?, allowOthersToSend?,
 *                                               signatureHtml? }; the mailbox's owner (the SDK
 *                                               decides)                     → 200 { mailbox }
 *   POST   /api/mailboxes/:mailboxId/stop      the mailbox's owner, the firm's owner or an admin
 *                                               (Y4; credentials deleted, filed mail kept)
 *                                                                            → 200 { mailbox, warning }
 *   POST   /api/mailboxes/:mailboxId/sync      a member who connected it, the firm's owner or an
 *                                               admin: the next pass now      → 202 { mailbox }
 *   POST   /api/mailboxes/:mailboxId/resync    same: re-lists the whole mailbox and files what is
 *                                               missing (R1, R2)              → 200 { mailbox, verification }
 *   POST   /api/mailboxes/:mailboxId/members   { memberId? } (default: oneself); the mailbox's
 *                                               owner, the firm's owner or an admin
 *                                                                            → 200 { mailbox }
 *
 * Resetting (Y4) is stopping, then connecting the same or another address through /connect.
 */
import { Router } from "express";
import { z } from "zod";
import { idSchema, mailboxSettingsSchema, type Mailbox, type TeamMember } from "@clientmail/core";
import { HttpError } from "../http/errors.js";
import { idParam } from "../http/ids.js";
import { member, requireMember } from "../http/session.js";
import { parse } from "../http/validate.js";
import type { Services } from "../services.js";
import { isConnected, mailboxView, seesMailbox } from "./mailbox-view.js";

const joinSchema = z.strictObject({ memberId: idSchema.optional() });

const manager = (who: TeamMember, mailbox: Mailbox) =>
  who.role !== "employee" || mailbox.ownerMemberId === who.id;
const user = (who: TeamMember, mailbox: Mailbox) => who.role !== "employee" || isConnected(who, mailbox);

function refuse(what: string, mailbox: Mailbox): never {
  throw new HttpError(403, "permission_denied", `Only ${what} of ${mailbox.address} can do this.`);
}

export function mailboxesRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  router.use("/mailboxes", requireMember(services));

  /** The mailbox of the path, for a member who may see it. */
  async function visible(who: TeamMember, mailboxId: string): Promise<Mailbox> {
    const mailbox = await cm.getMailbox(who.firmId, mailboxId);
    if (!seesMailbox(who, mailbox))
      throw new HttpError(403, "permission_denied", "This mailbox is not yours and is not shared with you.");
    return mailbox;
  }

  /** A mailbox the member may sync now: visible, theirs to use, and not stopped (409 otherwise). */
  async function syncable(who: TeamMember, mailboxId: string): Promise<Mailbox> {
    const mailbox = await visible(who, mailboxId);
    if (!user(who, mailbox)) refuse("the members who connected it, the firm's owner or an admin", mailbox);
    if (mailbox.state.status === "stopped")
      throw new HttpError(
        409,
        "mailbox_unavailable",
        `Sync of ${mailbox.address} is stopped; connect it again.`,
      );
    return mailbox;
  }

  router.get("/mailboxes", async (_req, res) => {
    const who = member(res);
    const mailboxes = await cm.listMailboxes(who.firmId);
    res.json({
      mailboxes: mailboxes.filter((m) => seesMailbox(who, m)).map((m) => mailboxView(who, m)),
    });
  });

  router.get("/mailboxes/:mailboxId", async (req, res) => {
    const who = member(res);
    res.json({ mailbox: mailboxView(who, await visible(who, idParam(req, "mailboxId"))) });
  });

  router.patch("/mailboxes/:mailboxId/settings", async (req, res) => {
    const who = member(res);
    const mailboxId = idParam(req, "mailboxId");
    const patch = parse(mailboxSettingsSchema, req.body);
    // Y3: the SDK lets only the mailbox's owner change its settings.
    const mailbox = await cm.updateMailboxSettings(who.firmId, mailboxId, who.id, patch);
    res.json({ mailbox: mailboxView(who, mailbox) });
  });

  router.post("/mailboxes/:mailboxId/stop", async (req, res) => {
    const who = member(res);
    const mailbox = await visible(who, idParam(req, "mailboxId"));
    if (!manager(who, mailbox)) refuse("its owner, the firm's owner or an admin", mailbox);
    const { warning } = await cm.sync.stopSync(who.firmId, mailbox.id, who.id);
    res.json({ mailbox: mailboxView(who, await cm.getMailbox(who.firmId, mailbox.id)), warning });
  });

  router.post("/mailboxes/:mailboxId/sync", async (req, res) => {
    const who = member(res);
    const mailbox = await syncable(who, idParam(req, "mailboxId"));
    await cm.sync.requestSync(who.firmId, mailbox.id);
    res.status(202).json({ mailbox: mailboxView(who, mailbox) });
  });

  router.post("/mailboxes/:mailboxId/resync", async (req, res) => {
    const who = member(res);
    const mailbox = await syncable(who, idParam(req, "mailboxId"));
    const verification = await cm.sync.auditMailbox(who.firmId, mailbox.id);
    res.json({ mailbox: mailboxView(who, await cm.getMailbox(who.firmId, mailbox.id)), verification });
  });

  router.post("/mailboxes/:mailboxId/members", async (req, res) => {
    const who = member(res);
    const mailboxId = idParam(req, "mailboxId");
    const input = parse(joinSchema, req.body ?? {});
    const mailbox = await visible(who, mailboxId);
    if (!manager(who, mailbox)) refuse("its owner, the firm's owner or an admin", mailbox);
    const joined = await cm.joinMailbox(who.firmId, mailbox.id, input.memberId ?? who.id);
    res.json({ mailbox: mailboxView(who, joined) });
  });

  return router;
}
