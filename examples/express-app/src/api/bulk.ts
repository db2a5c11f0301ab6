/**
 * Bulk work on the accounts list, for the owner and admins. A bulk toggle update (T10) is applied
 * account by account and answered with its report, which also goes to the caller's Inbox+ (N4).
 * A CSV import (T11) takes the file as JSON `{ csv }` (up to 1 MiB, the API's JSON limit) or as a
 * `text/csv` body (up to 5 MiB), and answers the per-row report: a rejected row leaves nothing
 * behind, the others are imported.
 *
 *   POST   /api/bulk/toggles   { accountIds, login?, notify?, emailSync?, signatory?, sendInvitations?, invitationMessage?, notifyPreferences? } → 200 { report }   owner, admin
 *   POST   /api/bulk/import    { csv } | text/csv → 200 { report: { accountsCreated, contactsCreated, linksCreated, rowErrors } }   owner, admin
 */
import express, { Router } from "express";
import { z } from "zod";
import type { BulkUpdateInput } from "@clientmail/core";
import { body } from "../http/request-parts.js";
import { member, requireMember, requireRole } from "../http/session.js";
import { parse } from "../http/validate.js";
import type { Services } from "../services.js";

/** A client list of about 20,000 rows. */
const csvLimit = "5mb";

const importSchema = z.strictObject({
  csv: z.string({ error: "the client list as CSV text" }).min(1, "a CSV file with a header row"),
});

export function bulkRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  // Per route, not per path prefix: other families may add bulk work that employees may do.
  const signedIn = requireMember(services);
  const manage = requireRole("owner", "admin");

  router.post("/bulk/toggles", signedIn, manage, async (req, res) => {
    const current = member(res);
    const report = await cm.bulkUpdate(current.firmId, current.id, body(req) as BulkUpdateInput);
    res.json({ report });
  });

  router.post(
    "/bulk/import",
    signedIn,
    manage,
    express.text({ type: "text/csv", limit: csvLimit }),
    async (req, res) => {
      const given: unknown = req.body;
      const { csv } = parse(importSchema, typeof given === "string" ? { csv: given } : (given ?? {}));
      res.json({ report: await cm.importClients(member(res).firmId, csv) });
    },
  );

  return router;
}
