/**
 * Connecting mailboxes: IMAP/SMTP with a connection test before anything is saved, and the start
 * of the Google and Microsoft OAuth flows for a single-page client (the browser pages are under
 * /connect, see connect/index.ts). A member connects their own mailbox; naming another member is
 * refused, whatever the role.
 *
 *   POST /api/mailboxes/imap   { address, displayName?, memberId?, imap: { host, port?, security?, user, password },
 *                                smtp?: { host, port?, security?, user?, password? } }
 *                              → 201 { mailbox }; a failed test → its SDK code with { reason, hint? }
 *   GET  /api/connect           → 200 { google, microsoft, imap }: which ways to connect are configured
 *   POST /api/connect/:provider { address?, returnTo? } → 200 { url }   (provider: google | microsoft)
 */
import { Router } from "express";
import { providerSchema, startConnect, startSchema } from "../connect/flow.js";
import { connectImapMailbox, connectionFailure, parseImapConnect } from "../connect/imap.js";
import { connectOptions, oauthFlows } from "../connect/oauth.js";
import { member, requireMember } from "../http/session.js";
import { parse } from "../http/validate.js";
import type { Services } from "../services.js";

export function connectRoutes(services: Services): Router {
  const router = Router();
  const { config } = services;
  const flows = oauthFlows(services);
  router.use(["/mailboxes/imap", "/connect"], requireMember(services));

  router.post("/mailboxes/imap", async (req, res) => {
    const input = parseImapConnect(req.body);
    try {
      const mailbox = await connectImapMailbox(services, member(res), input);
      res.status(201).json({ mailbox });
    } catch (error) {
      const failure = connectionFailure(error);
      if (!failure) throw error;
      res.status(failure.status).json(failure.body);
    }
  });

  router.get("/connect", (_req, res) => {
    res.json(connectOptions(config));
  });

  router.post("/connect/:provider", async (req, res) => {
    const provider = parse(providerSchema, req.params.provider, "provider");
    const input = parse(startSchema, req.body ?? {});
    res.json({ url: await startConnect(req, flows(provider), provider, member(res), input) });
  });

  return router;
}
