/**
 * Inbox+ (N1–N4, H4): the member's notifications — new client mail, "your email is not synced",
 * "sync stopped", bulk-update reports, failing automations — each with "remind me later" (24 h)
 * and "don't show again"; and the firm's client mail across accounts, newest first.
 *
 *   GET  /inbox?cursor=…
 *   POST /inbox/notifications/:notificationId   { action: snooze|dismiss }
 */
import { Router } from "express";
import { z } from "zod";
import type { Notification } from "@clientmail/core/ports";
import { HttpError } from "../../http/errors.js";
import { member } from "../../http/session.js";
import { parse } from "../../http/validate.js";
import type { Services } from "../../services.js";
import { formAction, guard, sendPage, uiContext } from "../context.js";
import { addresses, time } from "../format.js";
import { html, type SafeHtml } from "../html.js";
import { noticeBlock } from "../layout.js";

const actionForm = z.object({ action: z.enum(["snooze", "dismiss"]) });

/** A payload value as text (payloads are JSON from the store). */
function text(value: unknown): string {
  return typeof value === "string" || typeof value === "number" ? String(value) : "";
}

function describe(n: Notification): SafeHtml {
  const p = n.payload;
  switch (n.kind) {
    case "new_client_mail": {
      const accountId = (p.accountIds as string[] | undefined)?.[0];
      return accountId
        ? html`New client email.
            <a href="/accounts/${accountId}/email/threads/${text(p.threadId)}">Open the thread</a>`
        : html`New client email.`;
    }
    case "email_not_synced":
      return html`Your email is not synced, so you get no notifications of mail sent to you.
        <a href="/settings/mailboxes">Sync your email</a>.`;
    case "sync_stopped":
      return html`Email sync stopped (${text(p.reason)}).
        <a href="/settings/mailboxes">Reconnect your mailbox</a>.`;
    case "bulk_update_report": {
      const r = p as {
        accountsUpdated?: number;
        accountsRequested?: number;
        errors?: Array<{ accountId: string; message: string }>;
      };
      return html`Bulk update: ${r.accountsUpdated ?? 0} of ${r.accountsRequested ?? 0} accounts updated.
      ${
        r.errors?.length
          ? html`<ul>
              ${r.errors.map((e) => html`<li>${e.accountId}: ${e.message}</li>`)}
            </ul>`
          : ""
      }`;
    }
    case "automation_failing":
      return html`Automation “${text(p.automationId)}” is failing: ${text(p.reason)}`;
    default:
      return html`${n.kind}`;
  }
}

export function inboxRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  router.use("/inbox", ...guard(services));

  router.get("/inbox", async (req, res) => {
    const ctx = await uiContext(services, req, res);
    const cursor = typeof req.query.cursor === "string" && req.query.cursor ? req.query.cursor : undefined;
    const notifications = await cm.notifications(ctx.member.firmId, ctx.member.id);
    const page = await cm.inboxPlus(ctx.member.firmId, ctx.member.id, {
      limit: 25,
      ...(cursor ? { cursor } : {}),
    });
    sendPage(res, ctx, {
      title: "Inbox+",
      section: "inbox",
      body: html`<h1>Inbox+</h1>
        <section aria-labelledby="n-title">
          <h2 id="n-title">Notifications</h2>
          ${noticeBlock(ctx.notice, "notification")}
          ${
            notifications.length
              ? html`<ul class="notifications">
                  ${notifications.map(
                    (n) =>
                      html`<li>
                        <p>${describe(n)} <span class="meta">${time(n.createdAt)}</span></p>
                        <form method="post" action="/inbox/notifications/${n.id}" class="inline">
                          <input type="hidden" name="_csrf" value="${ctx.csrf}" />
                          <button type="submit" name="action" value="snooze">Remind me later</button>
                          <button type="submit" name="action" value="dismiss">Don't show again</button>
                        </form>
                      </li>`,
                  )}
                </ul>`
              : html`<p>No notifications.</p>`
          }
        </section>
        <section aria-labelledby="t-title">
          <h2 id="t-title">Client email</h2>
          ${
            page.threads.length
              ? html`<ul class="threads">
                  ${page.threads.map((t) => {
                    const first = t.messages[0];
                    const last = t.messages[t.messages.length - 1];
                    const accountId = t.accountIds[0];
                    return html`<li class="thread">
                      ${
                        accountId
                          ? html`<a href="/accounts/${accountId}/email/threads/${t.threadId}"
                              >${first?.subject || "(no subject)"}</a
                            >`
                          : first?.subject
                      }
                      <span class="meta"
                        >${addresses(last?.from)} · ${t.messages.length} message(s) ·
                        ${time(t.lastActivityAt)}${t.muted ? " · muted" : ""}</span
                      >
                    </li>`;
                  })}
                </ul>`
              : html`<p>No client email yet.</p>`
          }
          ${page.nextCursor ? html`<p><a href="/inbox?cursor=${encodeURIComponent(page.nextCursor)}">Older</a></p>` : ""}
        </section>`,
    });
  });

  router.post(
    "/inbox/notifications/:notificationId",
    formAction(
      "notification",
      async (req, res) => {
        const { notificationId } = req.params as { notificationId: string };
        const form = parse(actionForm, req.body);
        const current = member(res);
        const mine = await cm.notifications(current.firmId, current.id);
        if (!mine.some((n) => n.id === notificationId))
          throw new HttpError(404, "not_found", `You have no notification ${notificationId}.`);
        if (form.action === "snooze") await cm.snoozeNotification(current.firmId, notificationId);
        else await cm.dismissNotification(current.firmId, notificationId);
        return {
          back: "/inbox",
          done: form.action === "snooze" ? "Hidden for 24 hours." : "You will not see it again.",
        };
      },
      () => "/inbox",
    ),
  );

  return router;
}
