/**
 * Client accounts and their contacts. Every member reads; the owner and admins create, change and
 * delete accounts, contacts and addresses; erasing a contact (R10) is the owner's and admins'.
 * Toggles of one link are in links.ts, bulk changes and imports in bulk.ts. Invitation tokens are
 * never shown (directory-views.ts).
 *
 *   GET    /api/accounts                                    → 200 { accounts: [{ account, portalStatus, login, notify, emailSync, showsEmailTab, links }] }
 *   POST   /api/accounts                                    { name, kind, contacts? } → 201 { account, …, contacts }   owner, admin
 *   GET    /api/accounts/:accountId                         → 200 { account, portalStatus, …, contacts: [{ contact, links }] }
 *   DELETE /api/accounts/:accountId                         → 204   owner, admin
 *   POST   /api/accounts/:accountId/contacts                { firstName, lastName?, emails? } → 201 { account, …, contacts }   owner, admin
 *   POST   /api/accounts/:accountId/contacts/:contactId     { email, login?, notify?, emailSync?, signatory?, … } → 201 { link }   owner, admin
 *   GET    /api/contacts                                    → 200 { contacts }
 *   GET    /api/contacts/:contactId                         → 200 { contact }
 *   DELETE /api/contacts/:contactId                         → 204   owner, admin
 *   POST   /api/contacts/:contactId/addresses               { email, …settings, accountIds? } → 201 { links }   owner, admin
 *   DELETE /api/contacts/:contactId/addresses/:email        → 200 { links }   owner, admin (the links removed)
 *   POST   /api/contacts/:contactId/erase                   → 200 { report }   owner, admin (R10)
 */
import { Router } from "express";
import {
  ClientMailError,
  type AccountInput,
  type AccountOverview,
  type Contact,
  type ContactAddressInput,
  type ContactInput,
  type FirmId,
  type LinkSettingsInput,
} from "@clientmail/core";
import { body, id } from "../http/request-parts.js";
import { member, requireMember, requireRole } from "../http/session.js";
import type { Services } from "../services.js";
import { accountInfo, accountRow, linkView } from "./directory-views.js";

export function accountsRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  const manage = requireRole("owner", "admin");
  router.use(["/accounts", "/contacts"], requireMember(services));

  async function info(firmId: FirmId, overview: AccountOverview) {
    const contacts = new Map<string, Contact>();
    for (const contactId of new Set(overview.links.map((link) => link.contactId))) {
      // A contact deleted since the overview was read is shown by its id alone.
      const contact = await cm.getContact(firmId, contactId).catch((error: unknown) => {
        if (ClientMailError.isInstance(error) && error.code === "not_found") return undefined;
        throw error;
      });
      if (contact) contacts.set(contactId, contact);
    }
    return accountInfo(overview, contacts);
  }

  router.get("/accounts", async (_req, res) => {
    res.json({ accounts: (await cm.listAccounts(member(res).firmId)).map(accountRow) });
  });

  router.post("/accounts", manage, async (req, res) => {
    const { firmId } = member(res);
    res.status(201).json(await info(firmId, await cm.createAccount(firmId, body(req) as AccountInput)));
  });

  router.get("/accounts/:accountId", async (req, res) => {
    const { firmId } = member(res);
    res.json(await info(firmId, await cm.accountOverview(firmId, id(req, "accountId"))));
  });

  router.delete("/accounts/:accountId", manage, async (req, res) => {
    await cm.deleteAccount(member(res).firmId, id(req, "accountId"));
    res.status(204).end();
  });

  router.post("/accounts/:accountId/contacts", manage, async (req, res) => {
    const { firmId } = member(res);
    const overview = await cm.addContact(firmId, id(req, "accountId"), body(req) as ContactInput);
    res.status(201).json(await info(firmId, overview));
  });

  router.post("/accounts/:accountId/contacts/:contactId", manage, async (req, res) => {
    const [accountId, contactId] = [id(req, "accountId"), id(req, "contactId")];
    const link = await cm.linkContact(
      member(res).firmId,
      accountId,
      contactId,
      body(req) as LinkSettingsInput,
    );
    res.status(201).json({ link: linkView(link) });
  });

  router.get("/contacts", async (_req, res) => {
    res.json({ contacts: await cm.listContacts(member(res).firmId) });
  });

  router.get("/contacts/:contactId", async (req, res) => {
    res.json({ contact: await cm.getContact(member(res).firmId, id(req, "contactId")) });
  });

  router.delete("/contacts/:contactId", manage, async (req, res) => {
    await cm.deleteContact(member(res).firmId, id(req, "contactId"));
    res.status(204).end();
  });

  router.post("/contacts/:contactId/addresses", manage, async (req, res) => {
    const links = await cm.addContactAddress(
      member(res).firmId,
      id(req, "contactId"),
      body(req) as ContactAddressInput,
    );
    res.status(201).json({ links: links.map(linkView) });
  });

  router.delete("/contacts/:contactId/addresses/:email", manage, async (req, res) => {
    const [contactId, email] = [id(req, "contactId"), id(req, "email")];
    const links = await cm.removeContactAddress(member(res).firmId, contactId, email);
    res.json({ links: links.map(linkView) });
  });

  router.post("/contacts/:contactId/erase", manage, async (req, res) => {
    const current = member(res);
    res.json({ report: await cm.eraseContact(current.firmId, id(req, "contactId"), current.id) });
  });

  return router;
}
