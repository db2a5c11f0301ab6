/**
 * Gmail's Pub/Sub push (`POST /push/gmail`). Pub/Sub signs each push with an OIDC token of the
 * subscription's service account; it is verified with google-auth-library's
 * `OAuth2Client.verifyIdToken` — signature against Google's published certificates, expiry,
 * issuer `accounts.google.com`, audience GMAIL_PUSH_AUDIENCE — and its `email` must be
 * GMAIL_PUSH_SERVICE_ACCOUNT, verified. A missing or invalid token is 401, a valid token of
 * another account 403; nothing is read from the body before that.
 *
 * The push names only the address: it is routed to each firm that connected a Gmail mailbox with
 * it (directory.ts), where the SDK checks a watch is recorded and brings the mailbox's keyed sync
 * job forward. A push for no mailbox of ours, or one Pub/Sub delivers again (same message id,
 * seen in the last ten minutes by this process), is acknowledged with 204 and changes nothing,
 * so Pub/Sub does not retry it.
 */
import type { RequestHandler } from "express";
import { OAuth2Client } from "google-auth-library";
import { HttpError } from "../http/errors.js";
import type { Services } from "../services.js";

/** How long a Pub/Sub message id is remembered, and how many at most. */
const replayWindowMs = 10 * 60_000;
const replayMemory = 10_000;

/** Message ids seen recently (insertion order is expiry order). */
function recentIds() {
  const seen = new Map<string, number>();
  return {
    /** True the first time `id` is seen within the window. */
    first(id: string, now: number): boolean {
      for (const [key, at] of seen) {
        if (at > now - replayWindowMs && seen.size < replayMemory) break;
        seen.delete(key);
      }
      if (seen.has(id)) return false;
      seen.set(id, now);
      return true;
    },
  };
}

function addressOf(body: unknown): string | undefined {
  try {
    const data = (body as { message?: { data?: unknown } } | null)?.message?.data;
    if (typeof data !== "string") return undefined;
    const payload = JSON.parse(Buffer.from(data, "base64url").toString("utf8")) as { emailAddress?: unknown };
    return typeof payload.emailAddress === "string" ? payload.emailAddress.trim().toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/** The handler of `POST /push/gmail`. */
export function gmailPush(services: Services): RequestHandler {
  const { config, cm, gmailPush: directory, logger } = services;
  const verifier = new OAuth2Client({
    issuers: ["accounts.google.com", "https://accounts.google.com"],
    transporterOptions: {
      fetchImplementation: services.outbound.fetch ?? globalThis.fetch.bind(globalThis),
      retry: false,
    },
  });
  const replays = recentIds();
  return async (req, res) => {
    const audience = config.GMAIL_PUSH_AUDIENCE;
    const account = config.GMAIL_PUSH_SERVICE_ACCOUNT;
    if (!audience || !account)
      throw new HttpError(
        501,
        "unsupported",
        "Gmail push is not configured: set GMAIL_PUSH_AUDIENCE and GMAIL_PUSH_SERVICE_ACCOUNT",
      );
    const bearer = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/.exec(req.get("authorization") ?? "")?.[1];
    if (!bearer) throw new HttpError(401, "unauthenticated", "A Pub/Sub OIDC bearer token is required.");
    let claims: { email?: string; email_verified?: boolean } | undefined;
    try {
      claims = (await verifier.verifyIdToken({ idToken: bearer, audience })).getPayload();
    } catch {
      // The library's message quotes the token: it is not logged.
      logger.warn("gmail push refused: the token is not valid", {});
      throw new HttpError(401, "unauthenticated", "The push token is not valid.");
    }
    if (claims?.email !== account || claims.email_verified !== true) {
      logger.warn("gmail push refused: the token names another account", {});
      throw new HttpError(
        403,
        "permission_denied",
        "The push token is not the configured service account's.",
      );
    }
    const messageId = (req.body as { message?: { messageId?: unknown } } | undefined)?.message?.messageId;
    const address = addressOf(req.body);
    if (address === undefined || (typeof messageId === "string" && !replays.first(messageId, Date.now()))) {
      res.status(204).end();
      return;
    }
    let synced = 0;
    for (const firmId of await directory.firmsOf(address))
      synced += (await cm.sync.notifyPush(firmId, { provider: "gmail", body: req.body })).synced;
    logger.debug("gmail push", { synced });
    res.status(204).end();
  };
}
