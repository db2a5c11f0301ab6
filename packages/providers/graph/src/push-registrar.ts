/**
 * The push registrar the worker's jobs drive (`MailProvider.push`): one change-notification
 * subscription per synced folder, created with a fresh random `clientState` (returned once, for
 * the worker to keep as a hash), renewed by `PATCH` before its expiry (mail resources live at most
 * 10,070 minutes; the default asks for 3 days), deleted on unsubscribe. A subscription Graph no
 * longer knows fails `renew` as `not_found`, and the worker subscribes again.
 */
import { randomBytes } from "node:crypto";
import { ClientMailError } from "@clientmail/core";
import type { CallOptions, Clock, PushRegistrar, PushRegistration } from "@clientmail/core/ports";
import type { GraphHttp } from "./http.js";
import type { GraphPushSettings } from "./settings.js";

export interface GraphPushRegistrarOptions {
  http: GraphHttp;
  push: GraphPushSettings;
  folders: readonly string[];
  userPath: string;
  clock: Clock;
}

/** Creates the registrar of one mailbox's subscriptions. */
export function graphPushRegistrar(options: GraphPushRegistrarOptions): PushRegistrar {
  const { http, push, clock, userPath } = options;
  const minutes = push.subscriptionMinutes ?? 4320;
  const expiry = () => new Date(clock.now().getTime() + minutes * 60_000).toISOString();

  const create = async (folder: string, call: CallOptions): Promise<PushRegistration> => {
    const clientState = randomBytes(32).toString("base64url");
    const { body } = await http.send<{ id: string; expirationDateTime: string }>({
      method: "POST",
      url: "/subscriptions",
      signal: call.signal,
      body: {
        changeType: "created,updated,deleted",
        notificationUrl: push.notificationUrl,
        ...(push.lifecycleNotificationUrl === undefined
          ? {}
          : { lifecycleNotificationUrl: push.lifecycleNotificationUrl }),
        resource: `${userPath.replace(/^\//, "")}/mailFolders('${folder}')/messages`,
        expirationDateTime: expiry(),
        clientState,
      },
    });
    return {
      id: body.id,
      resource: folder,
      expiresAt: new Date(body.expirationDateTime),
      secret: clientState,
    };
  };

  return {
    async subscribe(call: CallOptions = {}) {
      const created: PushRegistration[] = [];
      for (const folder of options.folders) created.push(await create(folder, call));
      return created;
    },
    async renew(registration, call: CallOptions = {}) {
      const { body } = await http.send<{ expirationDateTime: string }>({
        method: "PATCH",
        url: `/subscriptions/${encodeURIComponent(registration.id)}`,
        signal: call.signal,
        body: { expirationDateTime: expiry() },
      });
      return {
        id: registration.id,
        resource: registration.resource,
        expiresAt: new Date(body.expirationDateTime),
      };
    },
    async unsubscribe(registration, call: CallOptions = {}) {
      try {
        await http.send({
          method: "DELETE",
          url: `/subscriptions/${encodeURIComponent(registration.id)}`,
          signal: call.signal,
        });
      } catch (error) {
        if (!ClientMailError.hasCode(error, "not_found")) throw error;
      }
    },
  };
}
