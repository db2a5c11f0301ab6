/**
 * What the facade's modules share: the dependencies of a {@link ClientMail} they run with, the
 * check of ids, and the writes of a link's settings with their side effects (T2 invitations and
 * T7 backfills enqueued in the same transaction, R8).
 */
import { ValidationError, type ValidationIssue } from "../errors.js";
import type { AccountId, ContactId, FirmId, Link } from "../domain/model.js";
import { idSchema, parseInput, type LinkSettings } from "../domain/schemas.js";
import { applyToggles, defaultNotifyPreferences, type SettingsEffect } from "../domain/settings.js";
import type { BlobStore } from "../ports/blob-store.js";
import type { Clock } from "../ports/clock.js";
import type { DocumentSink } from "../ports/document-sink.js";
import type { JobQueue } from "../ports/job-queue.js";
import type { Logger } from "../ports/logger.js";
import type { DirectoryStore, Store } from "../ports/store.js";
import { backfillJob } from "../engine/worker.js";
import { invitationJobsFor } from "../engine/invitations.js";
import type { ClientMailEvents } from "../client.js";

/** The dependencies of a facade call; {@link ClientMail} hands them to its modules. */
export interface FacadeContext {
  store: Store;
  clock: Clock;
  logger: Logger;
  queue: JobQueue | undefined;
  newToken: () => string;
  /** R10: where erased contacts' saved documents are deleted. */
  documents: DocumentSink | undefined;
  /** R10: where erased messages' sources are deleted. */
  blobs: BlobStore | undefined;
  emit<K extends keyof ClientMailEvents>(event: K, ...args: ClientMailEvents[K]): void;
}

/**
 * R4: refuses ids that no record can have — missing, empty, too long, with control characters
 * or lone surrogates — with one `validation_failed` naming every bad argument.
 */
export function checkIds(ids: Record<string, unknown>): void {
  const issues: ValidationIssue[] = [];
  for (const [field, value] of Object.entries(ids)) {
    try {
      parseInput(idSchema, value, field);
    } catch (error) {
      if (error instanceof ValidationError) issues.push(...error.issues);
      else throw error;
    }
  }
  if (issues.length > 0) throw new ValidationError(issues);
}

/** Drops keys whose value is `undefined`. */
export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * T11: creates a link with its settings, as account creation and import do: created blank, then
 * the toggles applied, so turning login on invites (T2) and turning sync on backfills (T7).
 */
export async function insertLink(
  ctx: FacadeContext,
  tx: DirectoryStore,
  firmId: FirmId,
  accountId: AccountId,
  contactId: ContactId,
  settings: LinkSettings,
): Promise<{ link: Link; effects: SettingsEffect[] }> {
  const blank = await tx.createLink(firmId, {
    accountId,
    contactId,
    email: settings.email,
    login: false,
    notify: settings.notify,
    emailSync: false,
    signatory: settings.signatory,
    notifyPreferences: { ...defaultNotifyPreferences(), ...definedOnly(settings.notifyPreferences ?? {}) },
  });
  const { link, effects } = applyToggles(
    blank,
    {
      login: settings.login,
      emailSync: settings.emailSync,
      sendInvitation: settings.sendInvitation,
      customMessage: settings.invitationMessage,
    },
    { now: ctx.clock.now(), newToken: ctx.newToken },
  );
  return { link: await persistLink(tx, firmId, blank, link), effects };
}

/** Saves the settings (and, when it changed, the invitation) of `after`. */
export async function persistLink(
  tx: DirectoryStore,
  firmId: FirmId,
  before: Link,
  after: Link,
): Promise<Link> {
  let saved = await tx.updateLink(firmId, before.id, {
    email: after.email,
    login: after.login,
    notify: after.notify,
    emailSync: after.emailSync,
    signatory: after.signatory,
    notifyPreferences: after.notifyPreferences,
  });
  if (after.invitation !== before.invitation)
    saved = await tx.setInvitation(firmId, before.id, after.invitation);
  return saved;
}

/**
 * R8: with a queue, the backfill of newly synced addresses and the invitation events (T2, T4) are
 * jobs of the caller's transaction.
 */
export async function enqueueEffects(
  ctx: Pick<FacadeContext, "queue">,
  tx: Store,
  firmId: FirmId,
  effects: readonly SettingsEffect[],
): Promise<void> {
  if (!ctx.queue) return;
  const addresses = [...new Set(effects.flatMap((e) => (e.type === "backfill_address" ? [e.email] : [])))];
  const jobs = [
    ...(addresses.length > 0 ? [backfillJob(firmId, addresses)] : []),
    ...invitationJobsFor(firmId, effects),
  ];
  if (jobs.length > 0) await ctx.queue.enqueue(tx, jobs);
}

/**
 * After commit, without a queue: invitations to send or withdraw, and backfills to run, as
 * events. With one they are jobs of the commit (see {@link enqueueEffects}).
 */
export function emitEffects(
  ctx: Pick<FacadeContext, "queue" | "emit">,
  firmId: FirmId,
  effects: readonly SettingsEffect[],
): void {
  if (ctx.queue) return;
  const backfill = new Set<string>();
  for (const effect of effects) {
    if (effect.type === "send_invitation")
      ctx.emit("invitation.requested", {
        firmId,
        linkId: effect.linkId,
        email: effect.email,
        token: effect.token,
        customMessage: effect.customMessage,
      });
    else if (effect.type === "invalidate_invitation")
      ctx.emit("invitation.invalidated", { firmId, linkId: effect.linkId, token: effect.token });
    else if (effect.type === "backfill_address") backfill.add(effect.email);
  }
  if (backfill.size > 0) ctx.emit("backfill.requested", { firmId, addresses: [...backfill] });
}
