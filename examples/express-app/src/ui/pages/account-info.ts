/**
 * An account's Info tab: its contacts, each address with its four toggles (T1), changeable one at
 * a time; unlinked emails (T4) with their login; a form to add a contact.
 *
 *   GET  /accounts/:accountId                       the Info tab
 *   POST /accounts/:accountId/links/:linkId         { setting: login|notify|emailSync|signatory,
 *                                                     value: on|off } → that toggle changed
 *   POST /accounts/:accountId/contacts              { firstName, lastName?, email, login?, notify?,
 *                                                     emailSync?, signatory? } → a contact added
 */
import { Router, type Response } from "express";
import { z } from "zod";
import type { AccountOverview, Contact, Link } from "@clientmail/core";
import { HttpError } from "../../http/errors.js";
import { member } from "../../http/session.js";
import { parse } from "../../http/validate.js";
import type { Services } from "../../services.js";
import { formAction, guard, sendPage, uiContext } from "../context.js";
import { checkbox } from "../forms.js";
import { contactFromForm, contactSettingsFields } from "../contact-fields.js";
import { html, type SafeHtml } from "../html.js";
import { noticeBlock } from "../layout.js";
import type { Notice } from "../flash.js";
import { accountHeader } from "./account-header.js";
import { watchBackfill } from "./sync-progress.js";

const settings = ["login", "notify", "emailSync", "signatory"] as const;
type Setting = (typeof settings)[number];
const labels: Record<Setting, string> = {
  login: "Login",
  notify: "Notify",
  emailSync: "Email sync",
  signatory: "Signatory",
};

const toggleForm = z.object({ setting: z.enum(settings), value: z.enum(["on", "off"]) });
const contactForm = z.object({
  firstName: z.string(),
  lastName: z.string().default(""),
  email: z.string(),
  login: checkbox,
  notify: checkbox,
  emailSync: checkbox,
  signatory: checkbox,
});

function invitationWords(link: Link): string {
  if (!link.login) return "";
  if (link.invitation?.acceptedAt) return "active";
  if (link.invitation) return "invitation sent, pending activation";
  return "invitation not sent yet";
}

function toggleButton(accountId: string, link: Link, setting: Setting, csrf: string): SafeHtml {
  const on = link[setting];
  return html`<form method="post" action="/accounts/${accountId}/links/${link.id}" class="toggle">
    <input type="hidden" name="_csrf" value="${csrf}" />
    <input type="hidden" name="setting" value="${setting}" />
    <input type="hidden" name="value" value="${on ? "off" : "on"}" />
    <button
      type="submit"
      class="switch ${on ? "on" : "off"}"
      aria-pressed="${on ? "true" : "false"}"
      aria-label="${labels[setting]} for ${link.email}: ${on ? "on" : "off"}"
    >
      ${labels[setting]}: ${on ? "On" : "Off"}
    </button>
  </form>`;
}

function linkRow(accountId: string, link: Link, csrf: string, notice: Notice | undefined): SafeHtml {
  const shown = link.unlinkedAt ? (["login"] as const) : settings;
  return html`<tr id="link-${link.id}">
    <th scope="row">
      ${link.email}<br /><small>${invitationWords(link)}</small> ${noticeBlock(notice, `link-${link.id}`)}
    </th>
    ${settings.map((setting) =>
      (shown as readonly Setting[]).includes(setting)
        ? html`<td>${toggleButton(accountId, link, setting, csrf)}</td>`
        : html`<td></td>`,
    )}
  </tr>`;
}

async function loadAccount(services: Services, res: Response, accountId: string): Promise<AccountOverview> {
  return services.cm.accountOverview(member(res).firmId, accountId);
}

export function accountInfoRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  router.use("/accounts/:accountId", ...guard(services));

  router.get("/accounts/:accountId", async (req, res) => {
    const ctx = await uiContext(services, req, res);
    const overview = await loadAccount(services, res, req.params.accountId);
    const contactIds = [...new Set(overview.links.map((l) => l.contactId))];
    const contacts = new Map<string, Contact>();
    for (const id of contactIds) contacts.set(id, await cm.getContact(ctx.member.firmId, id));
    const linked = overview.links.filter((l) => !l.unlinkedAt);
    const unlinked = overview.links.filter((l) => l.unlinkedAt);
    const id = overview.account.id;
    const contactSections = contactIds
      .filter((contactId) => linked.some((l) => l.contactId === contactId))
      .map((contactId) => {
        const contact = contacts.get(contactId)!;
        const name = `${contact.firstName} ${contact.lastName}`.trim();
        return html`<section class="contact" aria-label="${name}">
          <h3>${name}</h3>
          <table class="links">
            <thead>
              <tr>
                <th scope="col">Email</th>
                ${settings.map((s) => html`<th scope="col">${labels[s]}</th>`)}
              </tr>
            </thead>
            <tbody>
              ${linked
                .filter((l) => l.contactId === contactId)
                .map((l) => linkRow(id, l, ctx.csrf, ctx.notice))}
            </tbody>
          </table>
        </section>`;
      });
    sendPage(res, ctx, {
      title: overview.account.name,
      section: "accounts",
      body: html`${accountHeader(overview, "info")}
        <h2>Contacts</h2>
        ${contactSections.length ? contactSections : html`<p>No contacts yet.</p>`}
        ${
          unlinked.length
            ? html`<h2>Unlinked emails</h2>
                <p>Replaced addresses that keep their portal login until you turn it off (T4).</p>
                <table class="links">
                  <tbody>
                    ${unlinked.map((l) => linkRow(id, l, ctx.csrf, ctx.notice))}
                  </tbody>
                </table>`
            : ""
        }
        <section class="panel" aria-labelledby="add-contact">
          <h2 id="add-contact">Add a contact</h2>
          ${noticeBlock(ctx.notice, "contact")}
          <form method="post" action="/accounts/${id}/contacts">
            <input type="hidden" name="_csrf" value="${ctx.csrf}" />
            <div class="grid">
              <p><label for="c-first">First name</label><input id="c-first" name="firstName" required /></p>
              <p><label for="c-last">Last name</label><input id="c-last" name="lastName" /></p>
              <p>
                <label for="c-email">Email</label><input id="c-email" name="email" type="email" required />
              </p>
            </div>
            ${contactSettingsFields}
            <p><button type="submit">Add contact</button></p>
          </form>
        </section>`,
    });
  });

  router.post(
    "/accounts/:accountId/links/:linkId",
    formAction(
      (req) => `link-${String(req.params.linkId)}`,
      async (req, res) => {
        const { accountId, linkId } = req.params as { accountId: string; linkId: string };
        const form = parse(toggleForm, req.body);
        const overview = await loadAccount(services, res, accountId);
        if (!overview.links.some((l) => l.id === linkId))
          throw new HttpError(404, "not_found", `Account ${accountId} has no contact setting ${linkId}.`);
        const link = await cm.updateLink(member(res).firmId, linkId, { [form.setting]: form.value === "on" });
        if (form.setting === "emailSync" && form.value === "on") watchBackfill(req, accountId);
        return {
          back: `/accounts/${accountId}#link-${linkId}`,
          done: `${labels[form.setting]} is ${form.value} for ${link.email}.${
            form.setting === "emailSync" && form.value === "on"
              ? " Its history with every synced mailbox is being fetched."
              : ""
          }`,
        };
      },
      (req) => `/accounts/${String(req.params.accountId)}`,
    ),
  );

  router.post(
    "/accounts/:accountId/contacts",
    formAction(
      "contact",
      async (req, res) => {
        const { accountId } = req.params as { accountId: string };
        const form = parse(contactForm, req.body);
        await cm.addContact(member(res).firmId, accountId, contactFromForm(form));
        return { back: `/accounts/${accountId}`, done: `${form.firstName} was added.` };
      },
      (req) => `/accounts/${String(req.params.accountId)}`,
    ),
  );

  return router;
}
