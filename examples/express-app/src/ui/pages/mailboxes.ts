/**
 * The member's email settings (Y3, Y4, S3): each mailbox they connected, its sync state, and —
 * for the mailbox's owner — automatically save attachments, allow team members to send on my
 * behalf, and the signature (HTML, with a sandboxed preview); stopping sync; connecting another
 * mailbox (connect-section.ts): with OAuth, or IMAP/SMTP through the same connection test and
 * connect as `POST /api/mailboxes/imap` (connect/imap.ts).
 *
 *   GET  /settings/mailboxes?connected=                 (an OAuth callback's mailbox: its address is shown)
 *   POST /settings/connect/imap                         { address, displayName?, imap.host, imap.port?,
 *                                                         imap.security, imap.user, imap.password, smtp.host?,
 *                                                         smtp.port?, smtp.security? } → 303 back, or the
 *                                                         page again with the error next to the form
 *   POST /settings/mailboxes/:mailboxId        { autoSaveAttachments?, allowOthersToSend?, signatureHtml }
 *   POST /settings/mailboxes/:mailboxId/stop   { confirm } → sync stopped, credentials deleted
 */
import { Router, type Request, type Response } from "express";
import { z } from "zod";
import type { Mailbox } from "@clientmail/core";
import { connectImapMailbox, connectionFailure, parseImapConnect } from "../../connect/imap.js";
import { connectOptions } from "../../connect/oauth.js";
import { errorAnswer, HttpError } from "../../http/errors.js";
import { member } from "../../http/session.js";
import { parse } from "../../http/validate.js";
import type { Services } from "../../services.js";
import { formAction, guard, sendPage, uiContext, type UiContext } from "../context.js";
import { checkbox } from "../forms.js";
import { inProgress, syncState, time } from "../format.js";
import { html } from "../html.js";
import { flash } from "../flash.js";
import { noticeBlock } from "../layout.js";
import {
  connectedId,
  connectSection,
  echoForm,
  imapFormInput,
  type ImapFormState,
} from "./connect-section.js";

const settingsForm = z.object({
  autoSaveAttachments: checkbox,
  allowOthersToSend: checkbox,
  signatureHtml: z.string().default(""),
});
const stopForm = z.object({
  confirm: z.literal("yes", "a confirmation that automations sending through this mailbox will stop"),
});

function mailboxSection(m: Mailbox, ctx: UiContext) {
  const owner = m.ownerMemberId === ctx.member.id;
  const stopped = m.state.status === "stopped";
  return html`<section class="panel" aria-labelledby="mb-${m.id}">
    <h2 id="mb-${m.id}">${m.displayName} &lt;${m.address}&gt; <small>${m.provider}</small></h2>
    <p role="status">
      ${syncState(m.state)}${
        m.state.status === "backfilling" && m.state.estimated
          ? html` <progress max="${m.state.estimated}" value="${m.state.done}"></progress>`
          : ""
      }
      · last synced ${time(m.lastSyncedAt)}
    </p>
    ${noticeBlock(ctx.notice, `mailbox-${m.id}`)}
    ${
      owner
        ? html`<form method="post" action="/settings/mailboxes/${m.id}">
            <input type="hidden" name="_csrf" value="${ctx.csrf}" />
            <p>
              <label
                ><input
                  type="checkbox"
                  name="autoSaveAttachments"
                  ${m.settings.autoSaveAttachments ? html` checked` : ""}
                />
                Automatically save attachments to the client's documents</label
              >
            </p>
            <p>
              <label
                ><input
                  type="checkbox"
                  name="allowOthersToSend"
                  ${m.settings.allowOthersToSend ? html` checked` : ""}
                />
                Allow team members to send on my behalf</label
              >
            </p>
            <p>
              <label for="sig-${m.id}">Signature (HTML), added only to mail sent from here</label>
              <textarea id="sig-${m.id}" name="signatureHtml" rows="6" class="code">
${m.settings.signatureHtml}</textarea>
            </p>
            ${
              m.settings.signatureHtml
                ? html`<p>Preview:</p>
                    <iframe
                      class="signature"
                      sandbox
                      title="Signature preview"
                      srcdoc="${m.settings.signatureHtml}"
                    ></iframe>`
                : ""
            }
            <p><button type="submit">Save settings</button></p>
          </form>`
        : html`<p>Settings of this shared mailbox are its owner's.</p>`
    }
    ${
      stopped
        ? ""
        : html`<form method="post" action="/settings/mailboxes/${m.id}/stop" class="danger">
            <input type="hidden" name="_csrf" value="${ctx.csrf}" />
            <p>
              <label
                ><input type="checkbox" name="confirm" value="yes" required /> I understand that automations
                sending email through this mailbox will stop working.</label
              >
            </p>
            <p><button type="submit">Stop email sync</button></p>
          </form>`
    }
  </section>`;
}

export function mailboxSettingsRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  router.use("/settings", ...guard(services));

  /** The page; after a failed IMAP connect, with the form as it was sent and the error. */
  async function settingsPage(req: Request, res: Response, imapForm?: ImapFormState): Promise<void> {
    const ctx = await uiContext(services, req, res);
    const mailboxes = await cm.listMailboxes(ctx.member.firmId, { memberId: ctx.member.id });
    const connected = mailboxes.find((m) => m.id === connectedId(req));
    sendPage(res, ctx, {
      title: "Email settings",
      section: "mailboxes",
      // A page answering a failed form does not reload itself (it would lose what was typed).
      refreshSeconds: !imapForm && mailboxes.some((m) => inProgress(m.state)) ? 5 : undefined,
      body: html`<h1>Email integration</h1>
        ${connected ? html`<p class="notice done" role="status">Connected ${connected.address}.</p>` : ""}
        ${mailboxes.length ? mailboxes.map((m) => mailboxSection(m, ctx)) : html`<p>Your email is not synced yet.</p>`}
        ${connectSection(ctx.csrf, connectOptions(services.config), imapForm)}`,
    });
  }

  router.get("/settings/mailboxes", (req, res) => settingsPage(req, res));

  router.post("/settings/connect/imap", async (req, res) => {
    try {
      const input = parseImapConnect(imapFormInput(req.body));
      const mailbox = await connectImapMailbox(services, member(res), input);
      flash(req, { kind: "done", message: `Connected ${mailbox.address}. Its mail is being fetched.` });
      res.redirect(303, "/settings/mailboxes");
    } catch (error) {
      const failed = connectionFailure(error);
      const { status, body } = failed ?? errorAnswer(error);
      if (status >= 500 && !failed) throw error;
      res.status(status);
      await settingsPage(req, res, {
        values: echoForm(req.body),
        error: { message: body.message, field: body.field },
      });
    }
  });

  async function ownMailbox(firmId: string, memberId: string, mailboxId: string): Promise<Mailbox> {
    const mine = await cm.listMailboxes(firmId, { memberId });
    const mailbox = mine.find((m) => m.id === mailboxId);
    if (!mailbox) throw new HttpError(404, "not_found", `You have no mailbox ${mailboxId}.`);
    return mailbox;
  }

  router.post(
    "/settings/mailboxes/:mailboxId",
    formAction(
      (req) => `mailbox-${String(req.params.mailboxId)}`,
      async (req, res) => {
        const { mailboxId } = req.params as { mailboxId: string };
        const form = parse(settingsForm, req.body);
        const current = member(res);
        await ownMailbox(current.firmId, current.id, mailboxId);
        await cm.updateMailboxSettings(current.firmId, mailboxId, current.id, form);
        return { back: "/settings/mailboxes", done: "Settings saved." };
      },
      () => "/settings/mailboxes",
    ),
  );

  router.post(
    "/settings/mailboxes/:mailboxId/stop",
    formAction(
      (req) => `mailbox-${String(req.params.mailboxId)}`,
      async (req, res) => {
        const { mailboxId } = req.params as { mailboxId: string };
        parse(stopForm, req.body);
        const current = member(res);
        await ownMailbox(current.firmId, current.id, mailboxId);
        const { warning } = await cm.sync.stopSync(current.firmId, mailboxId, current.id);
        return { back: "/settings/mailboxes", done: `Email sync stopped. ${warning}` };
      },
      () => "/settings/mailboxes",
    ),
  );

  return router;
}
