/** The head of an account's pages: its name, portal status (T3) and tabs (Email only with T8). */
import type { AccountOverview } from "@clientmail/core";
import { portalBadge } from "../format.js";
import { html, type SafeHtml } from "../html.js";

export function accountHeader(overview: AccountOverview, tab: "info" | "email"): SafeHtml {
  const { account } = overview;
  const tabLink = (name: "info" | "email", href: string, label: string) =>
    html`<li><a href="${href}" ${tab === name ? html` aria-current="page"` : ""}>${label}</a></li>`;
  return html`<p class="crumbs"><a href="/accounts">Accounts</a></p>
    <h1>${account.name} <small>${account.kind}</small> ${portalBadge(overview.portalStatus)}</h1>
    <nav aria-label="Account" class="tabs">
      <ul>
        ${tabLink("info", `/accounts/${account.id}`, "Info")}
        ${overview.showsEmailTab ? tabLink("email", `/accounts/${account.id}/email`, "Email") : ""}
      </ul>
    </nav>`;
}
