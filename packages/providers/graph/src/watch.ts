/**
 * Change-notification subscriptions for `watch`: creation (Graph validates the endpoint first),
 * renewal before expiry, lifecycle events, the clientState check, and polling when push is
 * unavailable. A notification is only a hint to run a delta pass; it never carries data we use.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { ClientMailError } from "@clientmail/core";
import type { Clock, Logger, PushSubscription } from "@clientmail/core/ports";
import type { GraphHttp } from "./http.js";
import type { GraphPushSettings, Timers } from "./settings.js";

interface ActiveSubscription {
  id: string;
  folder: string;
  clientState: Buffer;
  expiresAt: Date;
  renewTimer: unknown;
  watch: Watch;
}

interface Watch {
  onChange: () => void;
  subscriptionIds: Set<string>;
  pollTimer: unknown;
  polling: boolean;
  stopped: boolean;
  changePending: boolean;
}

/** Compares a received clientState with ours in constant time; unequal lengths are unequal. */
export function clientStateMatches(expected: Buffer, received: unknown): boolean {
  if (typeof received !== "string") return false;
  const actual = Buffer.from(received, "utf8");
  if (actual.length !== expected.length) {
    timingSafeEqual(expected, expected);
    return false;
  }
  return timingSafeEqual(actual, expected);
}

export interface SubscriptionManagerOptions {
  http: GraphHttp;
  push: GraphPushSettings | undefined;
  folders: readonly string[];
  userPath: string;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  pollIntervalMs: number;
}

/** Owns the subscriptions and polls of one provider. */
export class SubscriptionManager {
  private readonly active = new Map<string, ActiveSubscription>();
  private readonly watches = new Set<Watch>();
  private readonly background = new Set<Promise<void>>();

  constructor(private readonly options: SubscriptionManagerOptions) {}

  /** Starts watching: one subscription per synced folder, or polling when push is off or cannot be set up. */
  async watch(onChange: () => void): Promise<PushSubscription> {
    const watch: Watch = {
      onChange,
      subscriptionIds: new Set(),
      pollTimer: undefined,
      polling: false,
      stopped: false,
      changePending: false,
    };
    this.watches.add(watch);
    if (this.options.push === undefined) {
      this.startPolling(watch);
    } else {
      try {
        for (const folder of this.options.folders) await this.create(watch, folder);
      } catch (error) {
        this.options.logger.warn("graph: change notifications unavailable, polling instead", {
          code: ClientMailError.isInstance(error) ? error.code : "unknown",
          graphCode: ClientMailError.isInstance(error) ? error.details.graphCode : undefined,
        });
        this.startPolling(watch);
      }
    }
    return { stop: () => this.stop(watch) };
  }

  /** Resolves once the background work started so far (renewals, re-creations) has finished. */
  async drain(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  /** Stops every watch. Idempotent. */
  async close(): Promise<void> {
    await Promise.all([...this.watches].map((w) => this.stop(w)));
    await this.drain();
  }

  /**
   * Answers a request Graph sent to the notification or lifecycle URL: the validation
   * handshake (echo the decoded token as text/plain), change notifications and lifecycle events.
   * Items whose clientState does not match are ignored. Answers 202 at once; the work it
   * triggers runs in the background.
   */
  async handleWebhook(request: Request): Promise<Response> {
    const token = new URL(request.url).searchParams.get("validationToken");
    if (token !== null) {
      return new Response(token, { status: 200, headers: { "Content-Type": "text/plain; charset=utf-8" } });
    }
    let payload: unknown;
    try {
      payload = await request.json();
    } catch {
      return new Response(null, { status: 400 });
    }
    const items = (payload as { value?: unknown }).value;
    if (!Array.isArray(items)) return new Response(null, { status: 400 });
    for (const item of items as Record<string, unknown>[]) {
      const subscription = this.active.get(String(item.subscriptionId));
      if (!subscription) {
        this.options.logger.debug("graph: notification for an unknown subscription ignored", {});
        continue;
      }
      if (!clientStateMatches(subscription.clientState, item.clientState)) {
        this.options.logger.warn("graph: notification with a wrong clientState ignored", {
          subscriptionId: subscription.id,
        });
        continue;
      }
      const lifecycle = item.lifecycleEvent;
      if (lifecycle === undefined) this.changed(subscription.watch);
      else this.track(this.lifecycle(subscription, typeof lifecycle === "string" ? lifecycle : "unknown"));
    }
    return new Response(null, { status: 202 });
  }

  private changed(watch: Watch): void {
    if (watch.stopped || watch.changePending) return;
    // Coalesce a burst of notifications into one delta pass.
    watch.changePending = true;
    queueMicrotask(() => {
      watch.changePending = false;
      if (!watch.stopped) watch.onChange();
    });
  }

  private async lifecycle(subscription: ActiveSubscription, event: string): Promise<void> {
    const { http, logger } = this.options;
    const watch = subscription.watch;
    logger.info("graph: lifecycle event", { subscriptionId: subscription.id, event });
    switch (event) {
      case "reauthorizationRequired":
        try {
          await http.send({ method: "POST", url: `/subscriptions/${subscription.id}/reauthorize` });
        } catch {
          await this.renew(subscription);
        }
        return;
      case "subscriptionRemoved":
        this.forget(subscription);
        try {
          await this.create(watch, subscription.folder);
        } catch (error) {
          logger.warn("graph: could not recreate a removed subscription, polling instead", {
            code: ClientMailError.isInstance(error) ? error.code : "unknown",
          });
          this.startPolling(watch);
        }
        // Changes between removal and re-creation were never notified.
        this.changed(watch);
        return;
      case "missed":
        this.changed(watch);
        return;
      default:
        logger.debug("graph: unknown lifecycle event ignored", { event });
    }
  }

  private async create(watch: Watch, folder: string): Promise<void> {
    const { http, push, clock, userPath } = this.options;
    if (!push || watch.stopped) return;
    const minutes = push.subscriptionMinutes ?? 4320;
    const clientState = randomBytes(32).toString("base64url");
    const { body } = await http.send<{ id: string; expirationDateTime: string }>({
      method: "POST",
      url: "/subscriptions",
      body: {
        changeType: "created,updated,deleted",
        notificationUrl: push.notificationUrl,
        ...(push.lifecycleNotificationUrl === undefined
          ? {}
          : { lifecycleNotificationUrl: push.lifecycleNotificationUrl }),
        resource: `${userPath.replace(/^\//, "")}/mailFolders('${folder}')/messages`,
        expirationDateTime: new Date(clock.now().getTime() + minutes * 60_000).toISOString(),
        clientState,
      },
    });
    const subscription: ActiveSubscription = {
      id: body.id,
      folder,
      clientState: Buffer.from(clientState, "utf8"),
      expiresAt: new Date(body.expirationDateTime),
      renewTimer: undefined,
      watch,
    };
    this.active.set(subscription.id, subscription);
    watch.subscriptionIds.add(subscription.id);
    this.scheduleRenewal(subscription);
  }

  private scheduleRenewal(subscription: ActiveSubscription): void {
    const { clock, timers } = this.options;
    const remaining = subscription.expiresAt.getTime() - clock.now().getTime();
    // Renew with a quarter of the lifetime (at most an hour) to spare, so a failed renewal can be retried.
    const margin = Math.min(3_600_000, Math.max(0, remaining / 4));
    const delay = Math.max(1000, remaining - margin);
    subscription.renewTimer = timers.setTimeout(() => this.track(this.renew(subscription)), delay);
  }

  private async renew(subscription: ActiveSubscription): Promise<void> {
    const { http, push, clock, logger } = this.options;
    if (!push || subscription.watch.stopped || !this.active.has(subscription.id)) return;
    const minutes = push.subscriptionMinutes ?? 4320;
    try {
      const { body } = await http.send<{ expirationDateTime: string }>({
        method: "PATCH",
        url: `/subscriptions/${subscription.id}`,
        body: { expirationDateTime: new Date(clock.now().getTime() + minutes * 60_000).toISOString() },
      });
      subscription.expiresAt = new Date(body.expirationDateTime);
      this.scheduleRenewal(subscription);
    } catch (error) {
      logger.warn("graph: subscription renewal failed", {
        subscriptionId: subscription.id,
        code: ClientMailError.isInstance(error) ? error.code : "unknown",
      });
      if (ClientMailError.hasCode(error, "not_found")) {
        // Gone on Graph's side: replace it and catch up on what it would have told us.
        this.forget(subscription);
        try {
          await this.create(subscription.watch, subscription.folder);
        } catch {
          this.startPolling(subscription.watch);
        }
        this.changed(subscription.watch);
        return;
      }
      this.startPolling(subscription.watch);
      this.scheduleRenewal(subscription);
    }
  }

  private startPolling(watch: Watch): void {
    if (watch.polling || watch.stopped) return;
    watch.polling = true;
    const { timers, pollIntervalMs } = this.options;
    const tick = (): void => {
      if (watch.stopped) return;
      this.changed(watch);
      watch.pollTimer = timers.setTimeout(tick, pollIntervalMs);
    };
    watch.pollTimer = timers.setTimeout(tick, pollIntervalMs);
  }

  private forget(subscription: ActiveSubscription): void {
    this.options.timers.clearTimeout(subscription.renewTimer);
    this.active.delete(subscription.id);
    subscription.watch.subscriptionIds.delete(subscription.id);
  }

  private async stop(watch: Watch): Promise<void> {
    if (watch.stopped) return;
    watch.stopped = true;
    this.watches.delete(watch);
    if (watch.pollTimer !== undefined) this.options.timers.clearTimeout(watch.pollTimer);
    const ids = [...watch.subscriptionIds];
    for (const id of ids) {
      const subscription = this.active.get(id);
      if (subscription) this.forget(subscription);
    }
    await Promise.all(
      ids.map(async (id) => {
        try {
          await this.options.http.send({ method: "DELETE", url: `/subscriptions/${id}` });
        } catch {
          // Expires on its own; nothing else to do.
        }
      }),
    );
  }

  private track(work: Promise<void>): void {
    const tracked = work.catch((error: unknown) => {
      this.options.logger.error("graph: background subscription work failed", {
        code: ClientMailError.isInstance(error) ? error.code : "unknown",
      });
    });
    this.background.add(tracked);
    void tracked.finally(() => this.background.delete(tracked));
  }
}
