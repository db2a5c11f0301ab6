/**
 * Starting and finishing an OAuth connect for the signed-in member, shared by the /connect pages
 * and the JSON API. The one-time state is bound to the session twice: the session cookie lists
 * the states it started (a callback in another session is refused before anything else, and the
 * state stays usable by its own session), and the pending flow's context names the firm and
 * member (checked again after the exchange). The auth package takes the state once, so a replayed
 * callback is refused before the token endpoint is called.
 */
import type { Request } from "express";
import { z } from "zod";
import type { Mailbox, TeamMember } from "@clientmail/core";
import { HttpError } from "../http/errors.js";
import { session } from "../http/session.js";
import { parse } from "../http/validate.js";
import type { Services } from "../services.js";
import { oauthProviders, type OAuthFlow, type OAuthProvider } from "./oauth.js";

/** At most this many flows wait per session (the cookie stays small). */
const maxPendingPerSession = 5;

/** What the session remembers of a flow it started. */
interface SessionFlow {
  provider: OAuthProvider;
  returnTo: string;
}

/** A path of this app to return to after the callback. */
export const returnToSchema = z
  .string()
  .max(200, "at most 200 characters")
  .regex(/^\/(?![/\\])[^\s\\]*$/, "a path of this app, starting with one /")
  .default("/");

export const startSchema = z.strictObject({
  address: z.email("an email address").max(320).optional(),
  returnTo: returnToSchema,
});

export const providerSchema = z.enum(Object.keys(oauthProviders) as [OAuthProvider, ...OAuthProvider[]], {
  message: "google or microsoft",
});

const callbackSchema = z.object({
  state: z.string().min(1, "the state of a connect this session started").max(200),
  code: z.string().min(1, "the authorization code").max(4096).optional(),
  error: z.string().max(200).optional(),
});

function sessionFlows(req: Request): Record<string, SessionFlow> {
  return (session(req).oauth ?? {}) as Record<string, SessionFlow>;
}

/** Starts a flow for `who`; returns the consent URL to send the browser to. */
export async function startConnect(
  req: Request,
  flow: OAuthFlow,
  provider: OAuthProvider,
  who: TeamMember,
  input: z.output<typeof startSchema>,
): Promise<string> {
  const { url, state } = await flow.start({
    ...(input.address ? { loginHint: input.address } : {}),
    context: { firmId: who.firmId, memberId: who.id, provider },
  });
  const kept = Object.entries(sessionFlows(req)).slice(-(maxPendingPerSession - 1));
  (req.session as { oauth?: unknown }).oauth = Object.fromEntries([
    ...kept,
    [state, { provider, returnTo: input.returnTo } satisfies SessionFlow],
  ]);
  return url;
}

/**
 * Finishes the flow of the callback's state for `who`: the mailbox is connected with the
 * credentials the provider granted. Returns it and where to send the browser.
 */
export async function finishConnect(
  services: Services,
  req: Request,
  flow: OAuthFlow,
  provider: OAuthProvider,
  who: TeamMember,
): Promise<{ mailbox: Mailbox; returnTo: string }> {
  const query = parse(callbackSchema, req.query);
  const flows = sessionFlows(req);
  const started = Object.hasOwn(flows, query.state) ? flows[query.state] : undefined;
  if (!started || started.provider !== provider)
    throw new HttpError(
      400,
      "validation_failed",
      `state: expected the state of a ${provider} connect this session started, got another`,
      "state",
    );
  const { [query.state]: _used, ...rest } = flows;
  (req.session as { oauth?: unknown }).oauth = rest;
  if (query.error !== undefined)
    throw new HttpError(
      403,
      "permission_denied",
      `The ${provider} account did not grant access (${query.error}).`,
    );
  const granted = await flow.complete({ state: query.state, code: query.code ?? "" });
  if (granted.context.firmId !== who.firmId || granted.context.memberId !== who.id)
    throw new HttpError(403, "permission_denied", "This connect was started by another member.");
  const kind = oauthProviders[provider];
  const mailbox = await services.cm.connectMailbox(who.firmId, who.id, {
    provider: kind,
    address: granted.address,
    credentials: granted.credentials,
  });
  if (kind === "gmail") await services.gmailPush.add(mailbox.address, who.firmId);
  return { mailbox, returnTo: started.returnTo };
}
