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
import { z } from "zod";
import { ConnectionError } from "@clientmail/core";
import { providerSchema, startConnect, startSchema } from "../connect/flow.js";
import { testImapConnection } from "../connect/imap-test.js";
import { oauthFlows } from "../connect/oauth.js";
import { HttpError, statusOfCode } from "../http/errors.js";
import { member, requireMember } from "../http/session.js";
import { parse } from "../http/validate.js";
import { hostPolicyOf, type ImapCredentials } from "../providers.js";
import type { Services } from "../services.js";

const security = z.enum(["tls", "starttls", "none"], { message: "tls, starttls or none" });
const host = z.string().trim().min(1, "a host name or IP address").max(253, "at most 253 characters");
const port = z
  .number()
  .int("a whole number")
  .min(1, "a port from 1 to 65535")
  .max(65_535, "a port from 1 to 65535");
const secret = z.string().min(1, "the password").max(1_000, "at most 1000 characters");

const imapSchema = z.strictObject({
  address: z.email("an email address").max(320),
  displayName: z.string().trim().min(1).max(200, "at most 200 characters").optional(),
  memberId: z.string().min(1).max(100).optional(),
  imap: z.strictObject({
    host,
    port: port.optional(),
    security: security.default("tls"),
    user: z.string().min(1, "the login name").max(320, "at most 320 characters"),
    password: secret,
  }),
  smtp: z
    .strictObject({
      host,
      port: port.optional(),
      security: security.default("tls"),
      user: z.string().min(1).max(320).optional(),
      password: secret.optional(),
    })
    .optional(),
});

/** Drops undefined fields, so the stored JSON holds only what was given. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function connectRoutes(services: Services): Router {
  const router = Router();
  const { cm, config } = services;
  const flows = oauthFlows(services);
  router.use(["/mailboxes/imap", "/connect"], requireMember(services));

  router.post("/mailboxes/imap", async (req, res) => {
    const input = parse(imapSchema, req.body);
    const me = member(res);
    if (input.memberId !== undefined && input.memberId !== me.id)
      throw new HttpError(403, "permission_denied", "A member connects their own mailbox only.", "memberId");
    const credentials: ImapCredentials = {
      imap: defined(input.imap),
      ...(input.smtp ? { smtp: defined(input.smtp) } : {}),
    };
    try {
      await testImapConnection(credentials, hostPolicyOf(config, services.outbound));
    } catch (error) {
      if (!ConnectionError.isInstance(error)) throw error;
      res.status(statusOfCode[error.code] ?? 502).json({
        code: error.code,
        message: error.message,
        field: error.reason === "auth_failed" ? "imap.password" : "imap.host",
        reason: error.reason,
        ...(error.hint ? { hint: error.hint } : {}),
      });
      return;
    }
    const mailbox = await cm.connectMailbox(me.firmId, me.id, {
      provider: "imap",
      address: input.address,
      ...(input.displayName ? { displayName: input.displayName } : {}),
      credentials: JSON.stringify(credentials),
    });
    res.status(201).json({ mailbox });
  });

  router.get("/connect", (_req, res) => {
    res.json({
      google: Boolean(config.GOOGLE_CLIENT_ID && config.GOOGLE_CLIENT_SECRET),
      microsoft: Boolean(config.MICROSOFT_CLIENT_ID && config.MICROSOFT_CLIENT_SECRET),
      imap: true,
    });
  });

  router.post("/connect/:provider", async (req, res) => {
    const provider = parse(providerSchema, req.params.provider, "provider");
    const input = parse(startSchema, req.body ?? {});
    res.json({ url: await startConnect(req, flows(provider), provider, member(res), input) });
  });

  return router;
}
