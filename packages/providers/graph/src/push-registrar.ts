/**
 * The push registrar the worker's jobs drive (`MailProvider.push`): one change-notification
 * subscription per synced folder, created with a fresh random `clientState` (returned once, for
 * the worker to keep as a hash), renewed by `PATCH` before its expiry (mail resources live at most
 * 10,070 minutes; the default asks for 3 days), deleted on unsubscribe. A subscription Graph no
 * longer knows fails `renew` as `not_found`, and the worker subscribes again.
 *
 * R8: `subscribe` first removes this mailbox's subscriptions to our notification URL that Graph
 * still holds (`GET /subscriptions` lists the caller's own). The worker subscribes only when none
 * is recorded, so any such subscription is one whose creation was never recorded — the process died
 * between Graph's answer and the commit — and would otherwise linger, unrenewed, until it expires.
 */
import { randomBytes } from "node:crypto";
import { ClientMailError } from "@clientmail/core";
import type { CallOptions, Clock, PushRegistrar, PushRegistration } from "@clientmail/core/ports";
import type { GraphHttp } from "./http.js";
import type { GraphPushSettings } from "./settings.js";

/** A page of `GET /subscriptions`. */
interface SubscriptionPage {
  value?: { id?: unknown; resource?: unknown; notificationUrl?: unknown }[];
  "@odata.nextLink"?: string;
}

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

  const resourceOf = (folder: string) => `${userPath.replace(/^\//, "")}/mailFolders('${folder}')/messages`;

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
        resource: resourceOf(folder),
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

  /** Subscriptions of ours for this mailbox's folders that Graph holds (every page). */
  const listOurs = async (call: CallOptions): Promise<string[]> => {
    const resources = new Set(options.folders.map((folder) => resourceOf(folder).toLowerCase()));
    const ids: string[] = [];
    let url: string | undefined = "/subscriptions";
    while (url !== undefined) {
      const page: { body: SubscriptionPage | undefined } = await http.send<SubscriptionPage>({
        method: "GET",
        url,
        signal: call.signal,
      });
      const body = page.body;
      for (const item of body?.value ?? [])
        if (
          typeof item.id === "string" &&
          typeof item.resource === "string" &&
          item.notificationUrl === push.notificationUrl &&
          resources.has(item.resource.replace(/^\//, "").toLowerCase())
        )
          ids.push(item.id);
      url = body?.["@odata.nextLink"];
    }
    return ids;
  };

  const remove = async (id: string, call: CallOptions): Promise<void> => {
    try {
      await http.send({
        method: "DELETE",
        url: `/subscriptions/${encodeURIComponent(id)}`,
        signal: call.signal,
      });
    } catch (error) {
      if (!ClientMailError.hasCode(error, "not_found")) throw error;
    }
  };

  return {
    async subscribe(call: CallOptions = {}) {
      for (const id of await listOurs(call)) await remove(id, call);
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
    unsubscribe: (registration, call: CallOptions = {}) => remove(registration.id, call),
  };
}
