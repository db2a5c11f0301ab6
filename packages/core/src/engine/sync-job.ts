/** The keyed job that runs the next pass of a mailbox (see `worker.ts`). */
import type { FirmId, MailboxId } from "../domain/model.js";
import type { NewJob } from "../ports/job-queue.js";

/** Job name of a mailbox's pass. */
export const syncJobName = "sync.mailbox";

/**
 * The job that runs the next pass of a mailbox. Its key makes a mailbox's passes one at a time
 * and keeps one waiting, due at the earliest time asked (a push or a quarantine retry brings the
 * poll forward; a later poll never delays them).
 */
export function syncJob(firmId: FirmId, mailboxId: MailboxId, runAt?: Date): NewJob {
  return {
    name: syncJobName,
    payload: { firmId, mailboxId },
    key: `${syncJobName}:${firmId}:${mailboxId}`,
    group: firmId,
    runAt,
    // The handler schedules its own follow-ups; a handler that crashes is retried by the queue.
    maxAttempts: 5,
  };
}
