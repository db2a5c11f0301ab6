/**
 * `watch`: `users.watch` + Pub/Sub push when configured (renewed daily, as Google recommends),
 * and always a poll of the history id, since Gmail drops notifications beyond one per second and
 * may delay or drop any. A push is only a hint to run `changes`; it never carries data we use.
 */
import { ClientMailError } from "@clientmail/core";
import type {
  CallOptions,
  Logger,
  PushRegistrar,
  PushRegistration,
  PushSubscription,
} from "@clientmail/core/ports";
import { providerClosedError } from "@clientmail/provider-utils";
import type { ProfileResponse } from "./changes.js";
import type { GmailHttp } from "./http.js";
import type { ResolvedGmailSettings } from "./settings.js";

interface Subscription {
  onChange: () => void;
  stop: () => Promise<void>;
  lastHistoryId: string | undefined;
}

function codeOf(error: unknown): string {
  return ClientMailError.isInstance(error) ? error.code : "unknown";
}

/** The watches of one provider, and the push notifications handed to them. */
export class GmailWatches {
  private readonly subscriptions = new Set<Subscription>();
  private closed = false;

  constructor(
    private readonly http: GmailHttp,
    private readonly settings: Pick<ResolvedGmailSettings, "push" | "pollIntervalMs" | "emailAddress">,
    private readonly logger: Logger,
  ) {}

  /** Starts watching; resolves once push (when configured) was requested and polling runs. */
  async watch(onChange: () => void, options: CallOptions): Promise<PushSubscription> {
    if (this.closed) throw providerClosedError("gmail");
    const { http, logger } = this;
    const { push, pollIntervalMs } = this.settings;
    const timers: ReturnType<typeof setInterval>[] = [];
    let pushActive = false;
    const profile = await http.json<ProfileResponse>("users.getProfile", "/profile", {}, options.signal);
    const subscription: Subscription = {
      onChange,
      lastHistoryId: profile.historyId,
      stop: async () => {
        if (!this.subscriptions.delete(subscription)) return;
        timers.forEach((timer) => clearInterval(timer));
        if (pushActive && this.subscriptions.size === 0) {
          await http.json("users.stop", "/stop", { httpMethod: "POST" }).catch((error: unknown) => {
            logger.warn("gmail users.stop failed", { code: codeOf(error) });
          });
        }
      },
    };
    const startWatch = async () => {
      try {
        await http.json("users.watch", "/watch", {
          httpMethod: "POST",
          body: { topicName: push!.topicName, labelIds: push!.labelIds, labelFilterBehavior: "INCLUDE" },
        });
        pushActive = true;
      } catch (error) {
        // Push is an optimisation: without it the poll below still finds every change.
        pushActive = false;
        logger.warn("gmail users.watch failed; polling only", { code: codeOf(error) });
      }
    };
    if (push) {
      await startWatch();
      timers.push(setInterval(() => void startWatch(), push.renewEveryMs));
    }
    timers.push(
      setInterval(() => {
        http
          .json<ProfileResponse>("users.getProfile", "/profile")
          .then((current) => {
            if (current.historyId !== subscription.lastHistoryId) {
              subscription.lastHistoryId = current.historyId;
              onChange();
            }
          })
          .catch((error: unknown) => logger.warn("gmail poll failed", { code: codeOf(error) }));
      }, pollIntervalMs),
    );
    timers.forEach((timer) => (timer as { unref?: () => void }).unref?.());
    this.subscriptions.add(subscription);
    return { stop: subscription.stop };
  }

  /**
   * Hands a Pub/Sub push to the active subscriptions. True when it was for this mailbox and
   * newer than what they saw, so a change hint was raised. Never throws on bad input.
   */
  handlePushNotification(body: unknown): boolean {
    try {
      const data = (body as { message?: { data?: unknown } } | null)?.message?.data;
      if (typeof data !== "string") return false;
      const payload = JSON.parse(Buffer.from(data, "base64url").toString("utf8")) as {
        emailAddress?: unknown;
        historyId?: unknown;
      };
      if (typeof payload.historyId !== "string" && typeof payload.historyId !== "number") return false;
      const address =
        typeof payload.emailAddress === "string" ? payload.emailAddress.toLowerCase() : undefined;
      const own = this.settings.emailAddress;
      if (own !== undefined && address !== own.toLowerCase()) return false;
      let raised = false;
      const historyId = String(payload.historyId);
      for (const subscription of this.subscriptions) {
        if (
          subscription.lastHistoryId !== undefined &&
          BigInt(historyId) <= BigInt(subscription.lastHistoryId)
        )
          continue;
        subscription.lastHistoryId = historyId;
        subscription.onChange();
        raised = true;
      }
      return raised;
    } catch {
      return false;
    }
  }

  /** Stops every watch; later `watch` calls fail as closed. */
  async close(): Promise<void> {
    this.closed = true;
    for (const subscription of [...this.subscriptions]) await subscription.stop();
  }
}

/**
 * The push registrar the worker's jobs drive (`MailProvider.push`): `users.watch` registers the
 * user's mailbox with the Pub/Sub topic for at most 7 days (Gmail's limit), so a renewal job
 * calls it again before `expiration`; `users.stop` ends it. One watch per user: its id is
 * `gmail:<address>`, the address Pub/Sub notifications name.
 */
export function gmailPushRegistrar(
  http: GmailHttp,
  push: NonNullable<ResolvedGmailSettings["push"]>,
  emailAddress: string | undefined,
): PushRegistrar {
  const address = async (signal: AbortSignal | undefined): Promise<string> =>
    (
      emailAddress ??
      (await http.json<{ emailAddress: string }>("users.getProfile", "/profile", {}, signal)).emailAddress
    ).toLowerCase();
  const watch = async (options: CallOptions = {}): Promise<PushRegistration> => {
    const response = await http.json<{ historyId: string; expiration: string }>(
      "users.watch",
      "/watch",
      {
        httpMethod: "POST",
        body: { topicName: push.topicName, labelIds: push.labelIds, labelFilterBehavior: "INCLUDE" },
      },
      options.signal,
    );
    return {
      id: `gmail:${await address(options.signal)}`,
      resource: push.topicName,
      expiresAt: new Date(Number(response.expiration)),
    };
  };
  return {
    subscribe: async (options) => [await watch(options)],
    renew: (_registration, options) => watch(options),
    unsubscribe: async (_registration, options = {}) => {
      await http.json("users.stop", "/stop", { httpMethod: "POST" }, options.signal);
    },
  };
}
