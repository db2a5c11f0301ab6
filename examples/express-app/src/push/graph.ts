/**
 * Microsoft Graph's change and lifecycle notifications (`POST /push/graph?firm=<firm id>`, the
 * URL the Graph provider subscribes with, see providers.ts).
 *
 * - Validation handshake: `?validationToken=…` is answered 200 `text/plain` with the decoded
 *   token, as Graph requires within 10 seconds.
 * - Notifications (`{ value: [...] }`): handed to the SDK for the firm of the URL, which checks
 *   each item's `clientState` against the SHA-256 it recorded for that subscription (in constant
 *   time) and turns valid items into the mailbox's keyed sync job; lifecycle events
 *   (`reauthorizationRequired` → renewal now, `subscriptionRemoved` → subscribe again and a pass,
 *   `missed` → a pass) go the same way. Items naming no subscription of that firm or a wrong
 *   clientState change nothing. The answer is 202 once the jobs are recorded.
 */
import type { RequestHandler } from "express";
import { z } from "zod";
import { parse } from "../http/validate.js";
import type { Services } from "../services.js";

const querySchema = z.object({
  firm: z.string().min(1, "the firm id of the notification URL").max(100).optional(),
  validationToken: z.string().max(1024, "at most 1024 characters").optional(),
});

/** The handler of `POST /push/graph`. */
export function graphPush(services: Services): RequestHandler {
  return async (req, res) => {
    const query = parse(querySchema, req.query);
    if (query.validationToken !== undefined) {
      res.status(200).type("text/plain").send(query.validationToken);
      return;
    }
    const { firm } = parse(z.object({ firm: querySchema.shape.firm.unwrap() }), query);
    const outcome = await services.cm.sync.notifyPush(firm, { provider: "graph", body: req.body });
    if (outcome.ignored > 0)
      services.logger.debug("graph notifications ignored", { ignored: outcome.ignored });
    res.status(202).end();
  };
}
