/**
 * The page shell: a skip link, the firm's navigation (Team only for owners and admins, who alone
 * may see it, N5), the page's notice (what the last form did, or why it failed) and the content.
 * Pages that show long work in progress refresh themselves (`refreshSeconds`) without script.
 */
import type { Firm, TeamMember } from "@clientmail/core";
import { html, type SafeHtml } from "./html.js";
import type { Notice } from "./flash.js";

export interface PageInput {
  title: string;
  /** The signed-in member and their firm; absent on the sign-in page. */
  who?: { member: TeamMember; firm: Firm; csrf: string } | undefined;
  /** Which navigation entry is current. */
  section?: "accounts" | "inbox" | "team" | "mailboxes" | undefined;
  notice?: Notice | undefined;
  refreshSeconds?: number | undefined;
  body: SafeHtml;
}

function navLink(href: string, label: string, current: boolean): SafeHtml {
  return html`<li><a href="${href}" ${current ? html` aria-current="page"` : ""}>${label}</a></li>`;
}

/** The page's notice, when it is not tied to one form. */
export function noticeBlock(notice: Notice | undefined, form?: string): SafeHtml {
  if (!notice || (form !== undefined && notice.form !== form)) return html``;
  const role = notice.kind === "error" ? "alert" : "status";
  return html`<p class="notice ${notice.kind}" role="${role}">${notice.message}</p>`;
}

/** A whole page. */
export function page(input: PageInput): string {
  const { who, section } = input;
  const nav = who
    ? html`<header class="top">
        <span class="brand">${who.firm.name}</span>
        <nav aria-label="Main">
          <ul>
            ${navLink("/accounts", "Accounts", section === "accounts")}
            ${navLink("/inbox", "Inbox+", section === "inbox")}
            ${who.member.role === "employee" ? "" : navLink("/team", "Team", section === "team")}
            ${navLink("/settings/mailboxes", "Email settings", section === "mailboxes")}
          </ul>
        </nav>
        <form method="post" action="/signout" class="signout">
          <input type="hidden" name="_csrf" value="${who.csrf}" />
          <span>${who.member.name} (${who.member.role})</span>
          <button type="submit">Sign out</button>
        </form>
      </header>`
    : html``;
  const pageNotice = input.notice && input.notice.form === undefined ? noticeBlock(input.notice) : html``;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        ${input.refreshSeconds ? html`<meta http-equiv="refresh" content="${input.refreshSeconds}" />` : ""}
        <title>${input.title} · clientmail</title>
        <link rel="stylesheet" href="/ui.css" />
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        ${nav}
        <main id="main">${pageNotice} ${input.body}</main>
      </body>
    </html>`.value;
}
