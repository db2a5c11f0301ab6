/**
 * An account's Email tab (H5): Inbox, Sent and Scheduled; a thread with its messages, each shown
 * in a sandboxed frame; reply (S6, P3); mute (H4); cancel a scheduled message (S4).
 *
 *   GET  /accounts/:accountId/email?view=inbox|sent|scheduled&cursor=   the tab
 *   GET  /accounts/:accountId/email/threads/:threadId?images=<message>   a thread ("Show images"
 *                                                                         for one message)
 *   POST /accounts/:accountId/email/threads/:threadId/reply   { text, replyAll?, sendAt? }
 *   POST /accounts/:accountId/email/threads/:threadId/mute    { muted: 1|0 }
 *   POST /accounts/:accountId/email/scheduled/:outboxId/cancel
 */
import { Router, type Response } from "express";
import { z } from "zod";
import type { ScheduledItem } from "@clientmail/core";
import type { FiledMessage } from "@clientmail/core/ports";
import { HttpError } from "../../http/errors.js";
import { member } from "../../http/session.js";
import { parse } from "../../http/validate.js";
import type { Services } from "../../services.js";
import { formAction, guard, sendPage, uiContext, type UiContext } from "../context.js";
import { checkbox, optionalUtcTime } from "../forms.js";
import { addresses, time } from "../format.js";
import { html, type SafeHtml } from "../html.js";
import { noticeBlock } from "../layout.js";
import { accountHeader } from "./account-header.js";
import { syncProgress } from "./sync-progress.js";

const views = ["inbox", "sent", "scheduled"] as const;
const listQuery = z.object({
  view: z.enum(views).default("inbox"),
  cursor: z.string().min(1).max(1000).optional(),
});
const replyForm = z.object({
  text: z.string().trim().min(1, "the text of the reply"),
  replyAll: checkbox,
  sendAt: optionalUtcTime,
});
const muteForm = z.object({ muted: z.enum(["1", "0"]) });

function viewTabs(accountId: string, current: string): SafeHtml {
  const label = { inbox: "Inbox", sent: "Sent", scheduled: "Scheduled" };
  return html`<nav aria-label="Email views" class="subtabs">
    <ul>
      ${views.map(
        (v) =>
          html`<li>
            <a
              href="/accounts/${accountId}/email?view=${v}"
              ${v === current ? html` aria-current="page"` : ""}
              >${label[v]}</a
            >
          </li>`,
      )}
    </ul>
  </nav>`;
}

function scheduledList(accountId: string, items: ScheduledItem[], csrf: string): SafeHtml {
  if (items.length === 0) return html`<p>No messages waiting to be sent.</p>`;
  return html`<ul class="scheduled">
    ${items.map(({ message, due, error }) => {
      const draft = message.draft as { subject?: string; to?: Array<{ address: string }> };
      const state =
        message.state === "failed"
          ? `Failed: ${error ?? "unknown reason"}`
          : message.state === "submitting" || due
            ? "Sending now"
            : "Scheduled";
      return html`<li>
        <strong>${draft.subject ?? "(no subject)"}</strong> to
        ${(draft.to ?? []).map((a) => a.address).join(", ")} — ${state}, ${time(message.sendAt)}
        ${
          message.state === "scheduled"
            ? html`<form
                method="post"
                action="/accounts/${accountId}/email/scheduled/${message.id}/cancel"
                class="inline"
              >
                <input type="hidden" name="_csrf" value="${csrf}" />
                <button type="submit">Cancel</button>
              </form>`
            : ""
        }
      </li>`;
    })}
  </ul>`;
}

function threadRow(
  accountId: string,
  thread: { threadId: string; lastActivityAt: Date; messages: FiledMessage[] },
) {
  const first = thread.messages[0];
  const last = thread.messages[thread.messages.length - 1];
  return html`<li class="thread">
    <a href="/accounts/${accountId}/email/threads/${thread.threadId}">${first?.subject || "(no subject)"}</a>
    <span class="meta"
      >${addresses(last?.from)} · ${thread.messages.length} message${thread.messages.length === 1 ? "" : "s"}
      · ${time(thread.lastActivityAt)}</span
    >
  </li>`;
}

function messageBlock(
  accountId: string,
  threadId: string,
  message: FiledMessage,
  blockedImages: number,
  showImages: boolean,
): SafeHtml {
  const frameSrc = `/messages/${message.id}/frame${showImages ? "?images=allow" : ""}`;
  return html`<article class="message ${message.direction}" aria-label="${message.subject}">
    <header>
      <p>
        <strong>${addresses(message.from)}</strong>
        <span class="meta"
          >${message.direction === "outbound" ? "sent" : "received"} ${time(message.date)}</span
        >
      </p>
      <p class="meta">
        To: ${addresses(message.to)}${message.cc.length ? ` · Cc: ${addresses(message.cc)}` : ""}
      </p>
      <p class="subject">${message.subject}</p>
    </header>
    <iframe
      class="body"
      src="${frameSrc}"
      sandbox="allow-popups allow-popups-to-escape-sandbox"
      referrerpolicy="no-referrer"
      title="Message from ${addresses(message.from)}"
    ></iframe>
    ${
      showImages || blockedImages === 0
        ? ""
        : html`<p class="images">
            <a
              href="/accounts/${accountId}/email/threads/${threadId}?images=${message.id}#m-${message.id}"
              id="m-${message.id}"
              >Show images</a
            >
            <small
              >${blockedImages} remote image${blockedImages === 1 ? " is" : "s are"} blocked until you
              ask.</small
            >
          </p>`
    }
    ${
      message.attachments.length
        ? html`<p class="meta">Attachments: ${message.attachments.map((a) => a.filename).join(", ")}</p>`
        : ""
    }
  </article>`;
}

async function checkThread(services: Services, res: Response, accountId: string, threadId: string) {
  const firmId = member(res).firmId;
  const messages = await services.cm.threadMessages(firmId, threadId);
  if (!messages.some((m) => m.filings.some((f) => f.accountId === accountId)))
    throw new HttpError(404, "not_found", `Account ${accountId} has no thread ${threadId}.`);
  return messages;
}

export function accountEmailRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  router.use("/accounts/:accountId/email", ...guard(services));

  router.get("/accounts/:accountId/email", async (req, res) => {
    const ctx: UiContext = await uiContext(services, req, res);
    const { accountId } = req.params;
    const query = parse(listQuery, req.query);
    const overview = await cm.accountOverview(ctx.member.firmId, accountId);
    const progress = await syncProgress(services, ctx.member.firmId, req, accountId);
    let content: SafeHtml;
    if (query.view === "scheduled") {
      content = scheduledList(accountId, await cm.scheduledView(ctx.member.firmId, accountId), ctx.csrf);
    } else {
      const page = await cm.accountThreadsPage(ctx.member.firmId, accountId, {
        view: query.view,
        limit: 25,
        ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      content = html`${
        page.threads.length
          ? html`<ul class="threads">
              ${page.threads.map((t) => threadRow(accountId, t))}
            </ul>`
          : html`<p>No threads yet.</p>`
      }
      ${
        page.nextCursor
          ? html`<p>
              <a
                href="/accounts/${accountId}/email?view=${query.view}&cursor=${encodeURIComponent(page.nextCursor)}"
                >Older threads</a
              >
            </p>`
          : ""
      }`;
    }
    sendPage(res, ctx, {
      title: `${overview.account.name} · Email`,
      section: "accounts",
      refreshSeconds: progress.busy ? 3 : undefined,
      body: html`${accountHeader(overview, "email")}
        ${overview.showsEmailTab ? "" : html`<p class="notice">Turn email sync on for a contact to file their mail here.</p>`}
        ${progress.block}
        <p><a class="button" href="/compose?accountIds=${accountId}">Compose</a></p>
        ${noticeBlock(ctx.notice, "scheduled")} ${viewTabs(accountId, query.view)} ${content}`,
    });
  });

  router.get("/accounts/:accountId/email/threads/:threadId", async (req, res) => {
    const ctx = await uiContext(services, req, res);
    const { accountId, threadId } = req.params;
    const overview = await cm.accountOverview(ctx.member.firmId, accountId);
    const messages = await checkThread(services, res, accountId, threadId);
    const muted = await cm.isThreadMuted(ctx.member.firmId, threadId, ctx.member.id);
    const pending = (await cm.scheduledView(ctx.member.firmId, accountId)).filter(
      (item) => item.message.threadId === threadId,
    );
    const images = typeof req.query.images === "string" ? req.query.images : undefined;
    // The rendering says how many remote images it blocked: "Show images" only where there are some.
    const blocked = new Map<string, number>();
    for (const m of messages)
      blocked.set(m.id, (await cm.renderMessage(ctx.member.firmId, m.id)).body.blockedRemoteImages);
    sendPage(res, ctx, {
      title: messages[0]?.subject || "Thread",
      section: "accounts",
      body: html`${accountHeader(overview, "email")}
        <p><a href="/accounts/${accountId}/email">Back to the Email tab</a></p>
        <h2 class="thread-subject">${messages[0]?.subject || "(no subject)"}</h2>
        <form method="post" action="/accounts/${accountId}/email/threads/${threadId}/mute" class="inline">
          <input type="hidden" name="_csrf" value="${ctx.csrf}" />
          <input type="hidden" name="muted" value="${muted ? "0" : "1"}" />
          <button type="submit" aria-pressed="${muted ? "true" : "false"}">
            ${muted ? "Unmute thread" : "Mute thread"}
          </button>
        </form>
        ${noticeBlock(ctx.notice, "mute")}
        <div class="messages">
          ${messages.map((m) => messageBlock(accountId, threadId, m, blocked.get(m.id) ?? 0, images === m.id))}
        </div>
        ${
          pending.length
            ? html`<section aria-label="Waiting to be sent">
                <h3>Waiting to be sent</h3>
                ${scheduledList(accountId, pending, ctx.csrf)}
              </section>`
            : ""
        }
        <section class="panel" aria-labelledby="reply-title">
          <h3 id="reply-title">Reply</h3>
          ${noticeBlock(ctx.notice, "reply")}
          <form method="post" action="/accounts/${accountId}/email/threads/${threadId}/reply">
            <input type="hidden" name="_csrf" value="${ctx.csrf}" />
            <p>
              <label for="reply-text">Your reply</label
              ><textarea id="reply-text" name="text" rows="6" required></textarea>
            </p>
            <p>
              <label><input type="checkbox" name="replyAll" /> Reply to all client addresses</label>
            </p>
            <p>
              <label for="reply-at">Send at (UTC, optional)</label
              ><input id="reply-at" name="sendAt" type="datetime-local" />
            </p>
            <p><button type="submit">Send reply</button></p>
          </form>
        </section>`,
    });
  });

  router.post(
    "/accounts/:accountId/email/threads/:threadId/reply",
    formAction(
      "reply",
      async (req, res) => {
        const { accountId, threadId } = req.params as { accountId: string; threadId: string };
        const form = parse(replyForm, req.body);
        await checkThread(services, res, accountId, threadId);
        const current = member(res);
        const queued = await cm.reply(current.firmId, {
          actor: { kind: "member", memberId: current.id },
          threadId,
          text: form.text,
          replyAll: form.replyAll,
          ...(form.sendAt ? { sendAt: form.sendAt } : {}),
        });
        return {
          back: `/accounts/${accountId}/email/threads/${threadId}`,
          done: form.sendAt
            ? `Your reply is scheduled for ${queued.sendAt.toISOString().slice(0, 16).replace("T", " ")} UTC.`
            : "Your reply is being sent; it appears in the thread once it is out.",
        };
      },
      (req) => `/accounts/${String(req.params.accountId)}/email/threads/${String(req.params.threadId)}`,
    ),
  );

  router.post(
    "/accounts/:accountId/email/threads/:threadId/mute",
    formAction(
      "mute",
      async (req, res) => {
        const { accountId, threadId } = req.params as { accountId: string; threadId: string };
        const form = parse(muteForm, req.body);
        await checkThread(services, res, accountId, threadId);
        const current = member(res);
        await cm.muteThread(current.firmId, threadId, current.id, form.muted === "1");
        return {
          back: `/accounts/${accountId}/email/threads/${threadId}`,
          done: form.muted === "1" ? "Thread muted: you get no notifications of it." : "Thread unmuted.",
        };
      },
      (req) => `/accounts/${String(req.params.accountId)}/email/threads/${String(req.params.threadId)}`,
    ),
  );

  router.post(
    "/accounts/:accountId/email/scheduled/:outboxId/cancel",
    formAction(
      "scheduled",
      async (req, res) => {
        const { accountId, outboxId } = req.params as { accountId: string; outboxId: string };
        const current = member(res);
        const items = await cm.scheduledView(current.firmId, accountId);
        if (!items.some((item) => item.message.id === outboxId))
          throw new HttpError(404, "not_found", `Account ${accountId} has no scheduled message ${outboxId}.`);
        await cm.cancel(current.firmId, outboxId, current.id);
        return { back: `/accounts/${accountId}/email?view=scheduled`, done: "The message was cancelled." };
      },
      (req) => `/accounts/${String(req.params.accountId)}/email?view=scheduled`,
    ),
  );

  return router;
}
