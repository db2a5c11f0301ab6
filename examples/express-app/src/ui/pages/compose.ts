/**
 * Compose a message to one account, or the same message to several (a bulk send: one separate
 * message per account, S1), from a template (S2), now or later (S4); and the progress of what was
 * queued.
 *
 *   GET  /compose?accountIds=…&template=…   the form (the accounts list's bulk form opens it too)
 *   POST /compose   { accountIds[], mailboxId, subject, text, sendAt? } → one account: its Email
 *                   tab; several: the sending progress
 *   POST /compose/selection { accountIds[] } → 303 the form for them (the accounts list's "Email
 *                   the selected accounts"; owners and admins, like every bulk action)
 *   GET  /sending?accountIds=…               what is still waiting, being sent or failed, per account
 */
import { Router } from "express";
import { z } from "zod";
import type { Mailbox, TeamMember } from "@clientmail/core";
import { member, requireRole } from "../../http/session.js";
import { parse } from "../../http/validate.js";
import type { Services } from "../../services.js";
import { formAction, guard, sendPage, uiContext } from "../context.js";
import { list, optionalUtcTime } from "../forms.js";
import { html } from "../html.js";
import { noticeBlock } from "../layout.js";
import { mailTemplate, mailTemplates } from "../templates.js";

const composeForm = z.object({
  accountIds: list,
  mailboxId: z.string().min(1, "a mailbox to send from"),
  subject: z.string(),
  text: z.string().trim().min(1, "the text of the message"),
  sendAt: optionalUtcTime,
});

/** P1: the mailboxes a member may send from: connected by them, or shared with "send on my behalf". */
export function sendableMailboxes(mailboxes: Mailbox[], who: TeamMember): Mailbox[] {
  return mailboxes.filter(
    (m) =>
      m.state.status !== "stopped" &&
      (m.connections.some((c) => c.memberId === who.id) || m.settings.allowOthersToSend),
  );
}

function accountQuery(ids: string[]): string {
  return ids.map((id) => `accountIds=${encodeURIComponent(id)}`).join("&");
}

export function composeRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  router.use(["/compose", "/sending"], ...guard(services));

  router.get("/compose", async (req, res) => {
    const ctx = await uiContext(services, req, res);
    const accountIds = parse(list, req.query.accountIds, "accountIds");
    const template = mailTemplate(req.query.template);
    const accounts = [];
    for (const id of accountIds) accounts.push(await cm.accountOverview(ctx.member.firmId, id));
    const mailboxes = sendableMailboxes(await cm.listMailboxes(ctx.member.firmId), ctx.member);
    const names = accounts.map((a) => a.account.name).join(", ");
    sendPage(res, ctx, {
      title: "Compose",
      section: "accounts",
      body: html`<h1>New email</h1>
        <p>
          To: ${names || "no account chosen"}
          <small
            >(${accounts.length > 1 ? "one separate message per account, " : ""}to every contact with Notify
            on)</small
          >
        </p>
        <form method="get" action="/compose" class="inline">
          ${accountIds.map((id) => html`<input type="hidden" name="accountIds" value="${id}" />`)}
          <label for="template">Template</label>
          <select id="template" name="template">
            ${mailTemplates.map((t) => html`<option value="${t.id}" ${t.id === template.id ? " selected" : ""}>${t.label}</option>`)}
          </select>
          <button type="submit">Use template</button>
        </form>
        ${noticeBlock(ctx.notice, "compose")}
        <form method="post" action="/compose" class="panel">
          <input type="hidden" name="_csrf" value="${ctx.csrf}" />
          ${accountIds.map((id) => html`<input type="hidden" name="accountIds" value="${id}" />`)}
          <p>
            <label for="from">From</label>
            <select id="from" name="mailboxId" required>
              ${mailboxes.map((m) => html`<option value="${m.id}">${m.displayName} &lt;${m.address}&gt;</option>`)}
            </select>
            ${mailboxes.length ? "" : html`<small>You have no mailbox to send from: connect one first.</small>`}
          </p>
          <p>
            <label for="subject">Subject</label
            ><input id="subject" name="subject" value="${template.subject}" required />
          </p>
          <p>
            <label for="text">Message</label
            ><textarea id="text" name="text" rows="10" required>${template.text}</textarea>
          </p>
          <p>
            <small
              >Shortcodes: [ACCOUNT_NAME], [CONTACT_FIRST_NAME], [CONTACT_FULL_NAME], [FIRM_NAME],
              [SENDER_NAME]… are filled in per account and recipient.</small
            >
          </p>
          <p>
            <label for="send-at">Send at (UTC, optional)</label
            ><input id="send-at" name="sendAt" type="datetime-local" />
          </p>
          <p>
            <button type="submit">
              ${accounts.length > 1 ? `Send to ${accounts.length} accounts` : "Send"}
            </button>
          </p>
        </form>`,
    });
  });

  router.post("/compose/selection", requireRole("owner", "admin"), (req, res) => {
    const accountIds = parse(
      list.pipe(z.array(z.string()).min(1, "at least one checked account")),
      (req.body as Record<string, unknown>)?.accountIds,
      "accountIds",
    );
    res.redirect(303, `/compose?${accountQuery(accountIds)}`);
  });

  router.post(
    "/compose",
    formAction(
      "compose",
      async (req, res) => {
        const form = parse(composeForm, req.body);
        const current = member(res);
        const result = await cm.send(current.firmId, {
          actor: { kind: "member", memberId: current.id },
          mailboxId: form.mailboxId,
          accountIds: form.accountIds,
          subject: form.subject,
          text: form.text,
          ...(form.sendAt ? { sendAt: form.sendAt } : {}),
        });
        const skipped = result.skipped.length
          ? ` ${result.skipped.length} account(s) have no contact with Notify on and were skipped.`
          : "";
        const what = `${result.messages.length} message(s) ${form.sendAt ? "scheduled" : "queued"}.${skipped}`;
        if (form.accountIds.length === 1)
          return { back: `/accounts/${form.accountIds[0]}/email?view=scheduled`, done: what };
        return { back: `/sending?${accountQuery(form.accountIds)}`, done: what };
      },
      (req) => {
        const ids = list.safeParse((req.body as Record<string, unknown>)?.accountIds);
        return `/compose?${accountQuery(ids.success ? ids.data : [])}`;
      },
    ),
  );

  router.get("/sending", async (req, res) => {
    const ctx = await uiContext(services, req, res);
    const accountIds = parse(list, req.query.accountIds, "accountIds");
    let pending = 0;
    const rows = [];
    for (const id of accountIds) {
      const overview = await cm.accountOverview(ctx.member.firmId, id);
      const items = await cm.scheduledView(ctx.member.firmId, id);
      const waiting = items.filter((i) => i.message.state !== "failed").length;
      const failed = items.filter((i) => i.message.state === "failed");
      pending += items.filter((i) => i.due && i.message.state !== "failed").length;
      rows.push(
        html`<tr>
          <th scope="row"><a href="/accounts/${id}/email?view=scheduled">${overview.account.name}</a></th>
          <td>${waiting ? `${waiting} waiting` : "Sent"}</td>
          <td>${failed.map((f) => f.error ?? "failed").join("; ")}</td>
        </tr>`,
      );
    }
    sendPage(res, ctx, {
      title: "Sending",
      section: "accounts",
      refreshSeconds: pending > 0 ? 3 : undefined,
      body: html`<h1>Bulk send</h1>
        <p role="status">
          ${pending > 0 ? `${pending} message(s) still being sent…` : "Nothing left to send now."}
        </p>
        <table>
          <thead>
            <tr>
              <th scope="col">Account</th>
              <th scope="col">State</th>
              <th scope="col">Errors</th>
            </tr>
          </thead>
          <tbody>
            ${rows}
          </tbody>
        </table>`,
    });
  });

  return router;
}
