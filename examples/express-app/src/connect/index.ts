/**
 * Connecting a Gmail or Microsoft 365 mailbox with OAuth (authorization code with PKCE and a
 * one-time state bound to the session; see flow.ts). The signed-in member connects their own
 * mailbox.
 *
 *   GET /connect/:provider?address=&returnTo=   → 303 to Google's or Microsoft's consent page
 *   GET /connect/:provider/callback?state&code   → 303 to returnTo?connected=<mailbox id>
 *
 * `:provider` is `google` or `microsoft`. A provider whose client is not configured answers 501
 * `unsupported`, naming the variables to set. The JSON API has the same start as
 * `POST /api/connect/:provider` (api/connect.ts).
 */
import { Router } from "express";
import { member, requireMember } from "../http/session.js";
import { parse } from "../http/validate.js";
import type { Services } from "../services.js";
import { finishConnect, providerSchema, startConnect, startSchema } from "./flow.js";
import { oauthFlows } from "./oauth.js";

/** The /connect pages. */
export function connectRouter(services: Services): Router {
  const router = Router();
  const flows = oauthFlows(services);
  router.use(requireMember(services));

  router.get("/:provider", async (req, res) => {
    const provider = parse(providerSchema, req.params.provider, "provider");
    const input = parse(startSchema, req.query);
    const url = await startConnect(req, flows(provider), provider, member(res), input);
    res.redirect(303, url);
  });

  router.get("/:provider/callback", async (req, res) => {
    const provider = parse(providerSchema, req.params.provider, "provider");
    const { mailbox, returnTo } = await finishConnect(services, req, flows(provider), provider, member(res));
    const target = new URL(returnTo, services.config.publicUrl);
    target.searchParams.set("connected", mailbox.id);
    res.redirect(303, target.pathname + target.search);
  });

  return router;
}
