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
 * job forward. The answer (204) comes only once the jobs are recorded: a push whose hand-off
 * fails is answered with an error, and Pub/Sub delivers it again. A push for no mailbox of ours,
 * or one Pub/Sub delivers again after it was handed over (same message id, handed over in the
 * last ten minutes by this process), is acknowledged with 204 and changes nothing.
 */
import type { RequestHandler } from "express";
import { OAuth2Client } from "google-auth-library";
import { HttpError } from "../http/errors.js";
import type { Services } from "../services.js";

/** How long a Pub/Sub message id is remembered, and how many at most. */
const replayWindowMs = 10 * 60_000;
const replayMemory = 10_000;

/**
 * Message ids handed over recently (insertion order is expiry order). An id is remembered only
 * once its push was handed to the SDK (its job recorded): a push whose hand-off failed is
 * answered with an error, and Pub/Sub's redelivery of it must not be taken for a replay.
 */
function recentIds() {
  const seen = new Map<string, number>();
  const prune = (now: number) => {
    for (const [key, at] of seen) {
      if (at > now - replayWindowMs && seen.size < replayMemory) break;
      seen.delete(key);
    }
  };
  return {
    /** True when `id` was handed over within the window. */
    handled(id: string, now: number): boolean {
      prune(now);
      return seen.has(id);
    },
    remember(id: string, now: number): void {
      prune(now);
      seen.set(id, now);
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
    if (address === undefined || (typeof messageId === "string" && replays.handled(messageId, Date.now()))) {
      res.status(204).end();
      return;
    }
    let synced = 0;
    // A failure here is answered 5xx (not acknowledged), so Pub/Sub delivers the push again.
    for (const firmId of await directory.firmsOf(address))
      synced += (await cm.sync.notifyPush(firmId, { provider: "gmail", body: req.body })).synced;
    if (typeof messageId === "string") replays.remember(messageId, Date.now());
    logger.debug("gmail push", { synced });
    res.status(204).end();
  };
}
