/**
 * Push for workers (Y2): registrations at the providers renewed by jobs, and notifications from
 * the host's webhooks turned into keyed sync jobs.
 *
 * - `push.subscribe` (one waiting per mailbox) registers a mailbox whose provider offers
 *   `MailProvider.push` and has none recorded, then records each registration and enqueues its
 *   `push.renew` job in one transaction (R8): a crash before it leaves nothing recorded, and the
 *   next pass asks again.
 * - `push.renew` (one waiting per registration) renews before expiry — a quarter of the
 *   lifetime to spare, at most an hour — and records the new expiry with the next renewal in one
 *   transaction. A registration the provider forgot (`not_found`) is dropped and subscribed again,
 *   with a pass for what it would have told. Other failures are retried by the queue.
 * - {@link PushRouter.notify} checks a notification against the recorded registrations (Graph:
 *   the `clientState` we sent, compared as a SHA-256 in constant time; Gmail: the address must
 *   have a recorded watch) and enqueues the mailbox's keyed sync job, due now. A notification is
 *   only a hint: the pass reads what changed from the provider, so a forged one costs at most a
 *   pass, and a lost one is caught by the poll.
 */
import { z } from "zod";
import type { FirmId, MailboxId } from "../domain/model.js";
import { parseInput } from "../domain/schemas.js";
import { ClientMailError } from "../errors.js";
import type { JobQueue, NewJob } from "../ports/job-queue.js";
import type { Logger } from "../ports/logger.js";
import type { MailProvider, PushRegistration } from "../ports/mail-provider.js";
import type { Store } from "../ports/store.js";
import type { PushRegistrationRecord } from "../ports/store/push-store.js";
import { syncJob, syncJobName } from "./sync-job.js";

/** Job names of push registrations. */
export const pushJobs = { subscribe: "push.subscribe", renew: "push.renew" } as const;

/** A notification from a provider, as the host's webhook received it. */
export type PushNotification =
  | {
      /** The JSON body Pub/Sub POSTed to the push endpoint (verify its OIDC token first). */
      provider: "gmail";
      body: unknown;
    }
  | {
      /** The JSON body Graph POSTed to the notification or lifecycle URL. */
      provider: "graph";
      body: unknown;
    };

const notificationSchema = z.object({
  firmId: z.string().min(1),
  notification: z.object({ provider: z.enum(["gmail", "graph"]), body: z.unknown() }).strict(),
});

/** What {@link PushRouter.notify} did. */
export interface PushOutcome {
  /** Mailboxes whose sync was brought forward. */
  synced: number;
  /** Items that named no registration of ours or carried a wrong secret. */
  ignored: number;
}

/** SHA-256 of a secret, lower-case hex. */
export async function secretHash(secret: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compares two equal-format hex strings without stopping at the first difference. */
function sameHash(a: string, b: string): boolean {
  if (a.length !== b.length || a.length === 0) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i += 1) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/**
 * The job that registers a mailbox for push. `replacing`: registrations dropped from the store
 * that the job removes at the provider first (best effort; they would lapse on their own).
 */
export function pushSubscribeJob(
  firmId: FirmId,
  mailboxId: MailboxId,
  replacing: readonly Pick<PushRegistrationRecord, "subscriptionId" | "resource">[] = [],
): NewJob {
  return {
    name: pushJobs.subscribe,
    payload: {
      firmId,
      mailboxId,
      replacing: replacing.map((r) => ({ id: r.subscriptionId, resource: r.resource })),
    },
    key: `${pushJobs.subscribe}:${firmId}:${mailboxId}`,
    group: firmId,
  };
}

/** When a registration expiring at `expiresAt` is renewed: a quarter of its life to spare, at most an hour. */
export function renewalTime(expiresAt: Date, now: Date): Date {
  const remaining = expiresAt.getTime() - now.getTime();
  const margin = Math.min(3_600_000, Math.max(0, remaining / 4));
  return new Date(Math.max(now.getTime(), expiresAt.getTime() - margin));
}

/** The job that renews one registration, due at {@link renewalTime}. */
export function pushRenewJob(firmId: FirmId, record: PushRegistrationRecord, now: Date): NewJob {
  return {
    name: pushJobs.renew,
    payload: { firmId, mailboxId: record.mailboxId, subscriptionId: record.subscriptionId },
    key: `${pushJobs.renew}:${firmId}:${record.subscriptionId}`,
    group: firmId,
    runAt: renewalTime(record.expiresAt, now),
  };
}

/** What the push handlers need. */
export interface PushDependencies {
  store: Store;
  queue: JobQueue;
  logger: Logger;
  clock: { now(): Date };
}

async function recordOf(
  mailboxId: MailboxId,
  provider: MailProvider,
  registration: PushRegistration,
  previous?: PushRegistrationRecord,
): Promise<PushRegistrationRecord> {
  return {
    mailboxId,
    subscriptionId: registration.id,
    provider: provider.kind === "gmail" ? "gmail" : "graph",
    resource: registration.resource,
    secretHash:
      registration.secret !== undefined
        ? await secretHash(registration.secret)
        : (previous?.secretHash ?? ""),
    expiresAt: registration.expiresAt,
  };
}

/** `push.subscribe`: registers the mailbox unless registrations are recorded already. */
export async function subscribePush(
  deps: PushDependencies,
  provider: MailProvider,
  firmId: FirmId,
  mailboxId: MailboxId,
  signal: AbortSignal,
  replacing: readonly { id: string; resource: string }[] = [],
): Promise<void> {
  if (!provider.push) return;
  if ((await deps.store.listPushRegistrations(firmId, mailboxId)).length > 0) return;
  for (const stale of replacing)
    await provider.push.unsubscribe(stale, { signal }).catch((error: unknown) => {
      deps.logger.warn("a replaced push registration could not be removed; it lapses on its own", {
        firmId,
        mailboxId,
        code: ClientMailError.isInstance(error) ? error.code : "unknown",
      });
    });
  const registrations = await provider.push.subscribe({ signal });
  const records = await Promise.all(registrations.map((r) => recordOf(mailboxId, provider, r)));
  const now = deps.clock.now();
  await deps.store.transaction(async (tx) => {
    for (const record of records) await tx.putPushRegistration(firmId, record);
    await deps.queue.enqueue(
      tx,
      records.map((record) => pushRenewJob(firmId, record, now)),
    );
  });
  deps.logger.info("push registered", { firmId, mailboxId, registrations: records.length });
}

/** `push.renew`: renews one registration and schedules the next renewal with it. */
export async function renewPush(
  deps: PushDependencies,
  provider: MailProvider | undefined,
  firmId: FirmId,
  subscriptionId: string,
  signal: AbortSignal,
): Promise<void> {
  const record = await deps.store.getPushRegistration(firmId, subscriptionId);
  if (!record) return;
  if (!provider?.push) {
    // The mailbox is stopped or push is no longer configured: let the registration lapse.
    await deps.store.removePushRegistration(firmId, subscriptionId);
    return;
  }
  try {
    const renewed = await provider.push.renew(
      { id: record.subscriptionId, resource: record.resource },
      { signal },
    );
    const next = await recordOf(record.mailboxId, provider, renewed, record);
    await deps.store.transaction(async (tx) => {
      await tx.putPushRegistration(firmId, next);
      await deps.queue.enqueue(tx, [pushRenewJob(firmId, next, deps.clock.now())]);
    });
  } catch (error) {
    if (!ClientMailError.hasCode(error, "not_found")) throw error;
    // The provider forgot it: register the mailbox again, and look for what it would have told.
    await dropRegistrations(deps, firmId, record.mailboxId, subscriptionId);
    deps.logger.warn("push registration gone at the provider; registering again", {
      firmId,
      mailboxId: record.mailboxId,
    });
  }
}

/**
 * A registration is gone at the provider: drop the mailbox's registrations (the others are
 * removed at the provider by the subscribe job), register it again, and run a pass for what the
 * lost one would have told. One transaction (R8).
 */
async function dropRegistrations(
  deps: PushDependencies,
  firmId: FirmId,
  mailboxId: MailboxId,
  goneId: string,
): Promise<void> {
  await deps.store.transaction(async (tx) => {
    const records = await tx.listPushRegistrations(firmId, mailboxId);
    for (const record of records) await tx.removePushRegistration(firmId, record.subscriptionId);
    const others = records.filter((record) => record.subscriptionId !== goneId);
    await deps.queue.enqueue(tx, [pushSubscribeJob(firmId, mailboxId, others), syncJob(firmId, mailboxId)]);
  });
}

function decodeGmailPush(body: unknown): string | undefined {
  try {
    const data = (body as { message?: { data?: unknown } } | null)?.message?.data;
    if (typeof data !== "string") return undefined;
    const binary = atob(data.replace(/-/g, "+").replace(/_/g, "/"));
    const text = new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    const payload = JSON.parse(text) as { emailAddress?: unknown };
    return typeof payload.emailAddress === "string" ? payload.emailAddress.trim().toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Turns provider notifications into sync jobs (see the module comment). Bad bodies are counted as
 * ignored, never thrown: they come from the network. A bad `firmId` or `provider` is the host's
 * mistake and throws a ValidationError.
 */
export async function routePush(
  deps: PushDependencies,
  firmId: FirmId,
  notification: PushNotification,
): Promise<PushOutcome> {
  parseInput(notificationSchema, { firmId, notification });
  const outcome: PushOutcome = { synced: 0, ignored: 0 };
  const jobs: NewJob[] = [];
  if (notification.provider === "gmail") {
    const address = decodeGmailPush(notification.body);
    const record =
      address === undefined ? undefined : await deps.store.getPushRegistration(firmId, `gmail:${address}`);
    if (record?.provider === "gmail") jobs.push(syncJob(firmId, record.mailboxId));
    else outcome.ignored += 1;
  } else {
    const items = (notification.body as { value?: unknown } | null)?.value;
    for (const item of Array.isArray(items) ? (items as unknown[]) : [notification.body]) {
      const { subscriptionId, clientState, lifecycleEvent } = (item ?? {}) as Record<string, unknown>;
      const record =
        typeof subscriptionId === "string" && subscriptionId !== ""
          ? await deps.store.getPushRegistration(firmId, subscriptionId)
          : undefined;
      if (
        !record ||
        record.provider !== "graph" ||
        typeof clientState !== "string" ||
        !sameHash(await secretHash(clientState), record.secretHash)
      ) {
        outcome.ignored += 1;
        continue;
      }
      if (lifecycleEvent === "reauthorizationRequired")
        jobs.push({ ...pushRenewJob(firmId, record, deps.clock.now()), runAt: undefined });
      else if (lifecycleEvent === "subscriptionRemoved") {
        await dropRegistrations(deps, firmId, record.mailboxId, record.subscriptionId);
        outcome.synced += 1;
        continue;
      }
      jobs.push(syncJob(firmId, record.mailboxId));
    }
  }
  if (jobs.length > 0) await deps.queue.enqueue(deps.store, jobs);
  outcome.synced += new Set(jobs.filter((j) => j.name === syncJobName).map((j) => j.key)).size;
  return outcome;
}
