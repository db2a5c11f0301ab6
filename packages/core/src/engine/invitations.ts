/**
 * Invitation events as jobs (T2, T4, R8). With a job queue, the invitations a change of link
 * settings asks for — send one (login turned on, an address changed, a resend) or withdraw one
 * (login off, a new token replacing it, the link deleted or erased) — are jobs enqueued in the
 * transaction of the change, and workers hand them to the host's {@link InvitationHandler}: a
 * crash after the commit loses none. Without a queue the facade emits `invitation.requested` and
 * `invitation.invalidated` after the commit, as before.
 *
 * Delivery is at least once: a worker that dies after the handler sent the email but before the
 * queue recorded the job runs it again. Each event is identified by its `type` and `token` (a new
 * token for every invitation), and each job has one key per event, so enqueueing the same event
 * twice keeps one job; a host that records what it sent by (`type`, `token`) sends each email once.
 * A requested invitation that is no longer pending when its job runs (withdrawn, accepted, its
 * link deleted) is not handed over: there is nothing left to send.
 */
import type { FirmId, LinkId } from "../domain/model.js";
import type { SettingsEffect } from "../domain/settings.js";
import type { Job, JobHandler, NewJob } from "../ports/job-queue.js";
import type { Logger } from "../ports/logger.js";
import type { Store } from "../ports/store.js";

/** Job names of invitation events. */
export const invitationJobs = {
  requested: "invitation.requested",
  invalidated: "invitation.invalidated",
} as const;

/** An invitation event, as the host's {@link InvitationHandler} receives it. */
export type InvitationEvent =
  | {
      /** T2: send the portal invitation email (with the token in its link). */
      type: "invitation.requested";
      firmId: FirmId;
      linkId: LinkId;
      email: string;
      token: string;
      customMessage: string | undefined;
    }
  | {
      /** T4: this token stopped working. */
      type: "invitation.invalidated";
      firmId: FirmId;
      linkId: LinkId;
      token: string;
    };

/**
 * The host's side of invitations on workers: sends (or withdraws) the email. Called at least once
 * per event; (`type`, `token`) identifies the event. Throwing fails the attempt, and the queue
 * retries it with backoff.
 */
export type InvitationHandler = (event: InvitationEvent, signal: AbortSignal) => Promise<void>;

/** The jobs for the invitation effects among `effects` (one per event, keyed by its token). */
export function invitationJobsFor(firmId: FirmId, effects: readonly SettingsEffect[]): NewJob[] {
  const jobs: NewJob[] = [];
  for (const effect of effects) {
    if (effect.type === "send_invitation")
      jobs.push({
        name: invitationJobs.requested,
        payload: {
          firmId,
          linkId: effect.linkId,
          email: effect.email,
          token: effect.token,
          customMessage: effect.customMessage ?? null,
        },
        key: `${invitationJobs.requested}:${firmId}:${effect.token}`,
        group: firmId,
      });
    else if (effect.type === "invalidate_invitation")
      jobs.push({
        name: invitationJobs.invalidated,
        payload: { firmId, linkId: effect.linkId, token: effect.token },
        key: `${invitationJobs.invalidated}:${firmId}:${effect.token}`,
        group: firmId,
      });
  }
  return jobs;
}

/** The effects a deletion of `links` has on their invitations: pending ones are withdrawn (T2, T4). */
export function withdrawnInvitations(
  links: ReadonlyArray<{ id: LinkId; invitation?: { status: string; token: string } | undefined }>,
): SettingsEffect[] {
  return links.flatMap((link) =>
    link.invitation?.status === "pending"
      ? [{ type: "invalidate_invitation" as const, linkId: link.id, token: link.invitation.token }]
      : [],
  );
}

function eventOf(job: Job): InvitationEvent {
  const p = job.payload as Record<string, unknown>;
  const base = { firmId: String(p.firmId), linkId: String(p.linkId), token: String(p.token) };
  if (job.name === invitationJobs.invalidated) return { type: "invitation.invalidated", ...base };
  return {
    type: "invitation.requested",
    ...base,
    email: String(p.email),
    customMessage: typeof p.customMessage === "string" ? p.customMessage : undefined,
  };
}

/** Handlers of the invitation jobs, delivering to `deliver`. */
export function invitationHandlers(deps: {
  store: Store;
  logger: Logger;
  deliver: InvitationHandler;
}): Record<string, JobHandler> {
  const handle: JobHandler = async (job, signal) => {
    const event = eventOf(job);
    if (event.type === "invitation.requested") {
      const link = await deps.store.getLink(event.firmId, event.linkId);
      const invitation = link?.invitation;
      if (invitation?.status !== "pending" || invitation.token !== event.token) {
        deps.logger.info("invitation no longer pending; not sent", {
          firmId: event.firmId,
          linkId: event.linkId,
        });
        return;
      }
    }
    await deps.deliver(event, signal);
  };
  return { [invitationJobs.requested]: handle, [invitationJobs.invalidated]: handle };
}
