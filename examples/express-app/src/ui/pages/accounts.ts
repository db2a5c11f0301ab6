/**
 * The accounts list (T3, T8, T10, T11).
 *
 *   GET  /accounts                 every account: Login (colour-coded portal status), Notify and
 *                                  Email sync columns; a form for bulk actions on the checked ones
 *   POST /accounts                 { name, kind, firstName, lastName?, email, login?, notify?,
 *                                  emailSync?, signatory? } → a new account with its first contact
 *   POST /accounts/bulk            { accountIds[], login, notify, emailSync, signatory,
 *                                  sendInvitations?, invitationMessage? } (owner, admin) → the
 *                                  report, also delivered in Inbox+ (N4)
 *   POST /accounts/import          { csv } (owner, admin) → the import report
 *
 * Every role may list and create accounts; bulk actions and imports change many clients at once
 * and are for owners and admins.
 */
import { Router } from "express";
import { z } from "zod";
import { member, requireRole } from "../../http/session.js";
import { parse } from "../../http/validate.js";
import type { Services } from "../../services.js";
import { formAction, guard, sendPage, uiContext } from "../context.js";
import { checkbox, list, optionalText } from "../forms.js";
import { portalBadge, yesNo } from "../format.js";
import { contactFromForm, contactSettingsFields } from "../contact-fields.js";
import { html, type SafeHtml } from "../html.js";
import { noticeBlock } from "../layout.js";

const bulkAction = z.enum(["do_nothing", "enable", "disable"]);
const bulkForm = z.object({
  accountIds: list,
  login: bulkAction,
  notify: bulkAction,
  emailSync: bulkAction,
  signatory: bulkAction,
  sendInvitations: checkbox,
  invitationMessage: optionalText,
});

const createForm = z.object({
  name: z.string(),
  kind: z.string(),
  firstName: z.string(),
  lastName: z.string().default(""),
  email: z.string(),
  login: checkbox,
  notify: checkbox,
  emailSync: checkbox,
  signatory: checkbox,
});

const importForm = z.object({ csv: z.string().min(1, "the CSV text").max(1_000_000, "at most 1 MB") });

function actionSelect(name: string, label: string): SafeHtml {
  return html`<p>
    <label for="bulk-${name}">${label}</label>
    <select id="bulk-${name}" name="${name}">
      <option value="do_nothing">Do nothing</option>
      <option value="enable">Enable for all contacts</option>
      <option value="disable">Disable for all contacts</option>
    </select>
  </p>`;
}

export function accountsRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  router.use("/accounts", ...guard(services));

  router.get("/accounts", async (req, res) => {
    const ctx = await uiContext(services, req, res);
    const accounts = await cm.listAccounts(ctx.member.firmId);
    const manager = ctx.member.role !== "employee";
    const rows = accounts.map(
      (a) =>
        html`<tr>
          ${
            manager
              ? html`<td>
                  <input
                    type="checkbox"
                    form="bulk"
                    name="accountIds"
                    value="${a.account.id}"
                    id="pick-${a.account.id}"
                    aria-label="Select ${a.account.name}"
                  />
                </td>`
              : ""
          }
          <th scope="row"><a href="/accounts/${a.account.id}">${a.account.name}</a></th>
          <td>${a.account.kind}</td>
          <td>${portalBadge(a.portalStatus)}</td>
          <td>${yesNo(a.notify)}</td>
          <td>${yesNo(a.emailSync)}</td>
        </tr>`,
    );
    sendPage(res, ctx, {
      title: "Accounts",
      section: "accounts",
      body: html`<h1>Accounts</h1>
        <table class="accounts">
          <caption>
            Client accounts (${accounts.length})
          </caption>
          <thead>
            <tr>
              ${manager ? html`<th scope="col"><span class="visually-hidden">Select</span></th>` : ""}
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Login</th>
              <th scope="col">Notify</th>
              <th scope="col">Email sync</th>
            </tr>
          </thead>
          <tbody>
            ${
              rows.length
                ? rows
                : html`<tr>
                    <td colspan="6">No accounts yet.</td>
                  </tr>`
            }
          </tbody>
        </table>
        ${
          manager
            ? html`<section aria-labelledby="bulk-title" class="panel">
                <h2 id="bulk-title">Edit login, notify, email sync of the selected accounts</h2>
                ${noticeBlock(ctx.notice, "bulk")}
                <form method="post" action="/accounts/bulk" id="bulk">
                  <input type="hidden" name="_csrf" value="${ctx.csrf}" />
                  <div class="grid">
                    ${actionSelect("login", "Login")}${actionSelect("notify", "Notify")}
                    ${actionSelect("emailSync", "Email sync")}${actionSelect("signatory", "Signatory")}
                  </div>
                  <p>
                    <label
                      ><input type="checkbox" name="sendInvitations" checked /> Send invitations when enabling
                      login</label
                    >
                  </p>
                  <p>
                    <label for="bulk-message">Invitation message (optional)</label>
                    <textarea id="bulk-message" name="invitationMessage" rows="2"></textarea>
                  </p>
                  <p>
                    <button type="submit">Apply to selected accounts</button>
                    <button type="submit" formaction="/compose/selection" formnovalidate>
                      Email the selected accounts
                    </button>
                  </p>
                </form>
              </section>`
            : ""
        }
        <section aria-labelledby="new-title" class="panel">
          <h2 id="new-title">New account</h2>
          ${noticeBlock(ctx.notice, "create")}
          <form method="post" action="/accounts">
            <input type="hidden" name="_csrf" value="${ctx.csrf}" />
            <div class="grid">
              <p><label for="new-name">Account name</label><input id="new-name" name="name" required /></p>
              <p>
                <label for="new-kind">Kind</label
                ><select id="new-kind" name="kind">
                  <option value="person">Person</option>
                  <option value="family">Family</option>
                  <option value="business">Business</option>
                </select>
              </p>
              <p>
                <label for="new-first">Contact first name</label
                ><input id="new-first" name="firstName" required />
              </p>
              <p><label for="new-last">Last name</label><input id="new-last" name="lastName" /></p>
              <p>
                <label for="new-email">Email</label
                ><input id="new-email" name="email" type="email" required />
              </p>
            </div>
            ${contactSettingsFields}
            <p><button type="submit">Create account</button></p>
          </form>
        </section>
        ${
          manager
            ? html`<section aria-labelledby="import-title" class="panel">
                <h2 id="import-title">Import a client list (CSV)</h2>
                ${noticeBlock(ctx.notice, "import")}
                <form method="post" action="/accounts/import">
                  <input type="hidden" name="_csrf" value="${ctx.csrf}" />
                  <p>
                    <label for="import-csv"
                      >CSV with the columns account_name, account_kind, first_name, last_name, email, login,
                      notify, email_sync, signatory</label
                    >
                    <textarea id="import-csv" name="csv" rows="5" required></textarea>
                  </p>
                  <p><button type="submit">Import</button></p>
                </form>
              </section>`
            : ""
        }`,
    });
  });

  router.post(
    "/accounts",
    formAction(
      "create",
      async (req, res) => {
        const form = parse(createForm, req.body);
        const { firmId } = member(res);
        const created = await cm.createAccount(firmId, {
          name: form.name,
          kind: form.kind as "person",
          contacts: [contactFromForm(form)],
        });
        return { back: `/accounts/${created.account.id}`, done: `Account ${created.account.name} created.` };
      },
      () => "/accounts",
    ),
  );

  router.post(
    "/accounts/bulk",
    requireRole("owner", "admin"),
    formAction(
      "bulk",
      async (req, res) => {
        const form = parse(bulkForm, req.body);
        const current = member(res);
        const report = await cm.bulkUpdate(current.firmId, current.id, {
          accountIds: form.accountIds,
          login: form.login,
          notify: form.notify,
          emailSync: form.emailSync,
          signatory: form.signatory,
          sendInvitations: form.sendInvitations,
          ...(form.invitationMessage ? { invitationMessage: form.invitationMessage } : {}),
        });
        const errors = report.errors.map((e) => `${e.accountId}: ${e.message}`).join("; ");
        return {
          back: "/accounts",
          done: `Bulk update: ${report.accountsUpdated} of ${report.accountsRequested} accounts updated, ${report.linksChanged} contact settings changed, ${report.invitationsSent} invitations sent${report.accountsFailed ? `; ${report.accountsFailed} failed: ${errors}` : ""}. The report is also in Inbox+.`,
        };
      },
      () => "/accounts",
    ),
  );

  router.post(
    "/accounts/import",
    requireRole("owner", "admin"),
    formAction(
      "import",
      async (req, res) => {
        const form = parse(importForm, req.body);
        const current = member(res);
        const report = await cm.importClients(current.firmId, form.csv);
        const rejected = report.rowErrors
          .map((r) => `row ${r.row}: ${r.issues.map((i) => `${i.field} expected ${i.expected}`).join(", ")}`)
          .join("; ");
        return {
          back: "/accounts",
          done: `Imported ${report.accountsCreated} accounts, ${report.contactsCreated} contacts, ${report.linksCreated} contact settings${report.rowErrors.length ? `; ${report.rowErrors.length} rows rejected: ${rejected}` : ""}.`,
        };
      },
      () => "/accounts",
    ),
  );

  return router;
}
