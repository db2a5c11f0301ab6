/**
 * The completeness audit (R1, R2): a periodic, cheap check that the promise held. It lists the
 * mailbox's envelopes again (headers only, no cursor), decides filing on them with the links as
 * they are now, and compares with what the firm has: every client message the mailbox holds must
 * be filed (a sighting of this copy) or in quarantine. What is missing is repaired on the spot —
 * filed, or quarantined with its reason — and the mailbox's status says "verified complete at T"
 * or how many were missing and what became of them.
 *
 * It writes no cursor and needs no lease: filing is idempotent, so it may run beside a pass.
 */
import { decideFiling } from "../domain/filing.js";
import type { ProviderEnvelope } from "../domain/envelope.js";
import type { FirmId, MailboxId, MailboxVerification } from "../domain/model.js";
import type { MailProvider } from "../ports/mail-provider.js";
import { loadFirmContext } from "./directory.js";
import { intakeEnvelope } from "./intake.js";
import { PageFiler, type PageFilingDependencies } from "./page-filing.js";

/** Runs the audit of one mailbox and records its outcome on the mailbox. */
export async function auditMailbox(
  deps: PageFilingDependencies,
  provider: MailProvider,
  firmId: FirmId,
  mailboxId: MailboxId,
  signal?: AbortSignal,
): Promise<MailboxVerification> {
  const { store } = deps;
  const context = await loadFirmContext(store, firmId, mailboxId);
  const filer = new PageFiler(deps, context, provider);
  const [sightings, quarantine] = await Promise.all([
    store.listSightings(firmId, mailboxId),
    store.listQuarantine(firmId, { mailboxId }),
  ]);
  const accounted = new Set([...sightings, ...quarantine.map((entry) => entry.providerId)]);
  let clientMessages = 0;
  let missing = 0;
  let repaired = 0;
  let quarantined = 0;
  for await (const page of provider.changes(undefined, { signal })) {
    const gaps: ProviderEnvelope[] = [];
    for (const envelope of page.added) {
      if (!decideFiling(context.directory, intakeEnvelope(envelope, mailboxId)).filed) continue;
      clientMessages += 1;
      if (!accounted.has(envelope.providerId)) gaps.push(envelope);
    }
    for (const failure of page.unreadable ?? []) if (!accounted.has(failure.providerId)) missing += 1;
    if (gaps.length === 0 && (page.unreadable ?? []).every((u) => accounted.has(u.providerId))) {
      if (page.done) break;
      continue;
    }
    missing += gaps.length;
    const outcome = await filer.write(
      await filer.prepare(gaps, {
        signal,
        unreadable: (page.unreadable ?? []).filter((u) => !accounted.has(u.providerId)),
      }),
      undefined,
    );
    quarantined += outcome.quarantined.length;
    repaired +=
      gaps.length - outcome.quarantined.filter((id) => gaps.some((g) => g.providerId === id)).length;
    if (page.done) break;
  }
  const verification: MailboxVerification = {
    at: deps.clock.now(),
    complete: missing === 0,
    clientMessages,
    missing,
    repaired,
    quarantined,
  };
  await store.setMailboxVerification(firmId, mailboxId, verification);
  deps.events?.emit("sync.verified", { firmId, mailboxId, verification });
  if (missing > 0)
    deps.logger.warn("completeness audit repaired a mailbox", {
      firmId,
      mailboxId,
      missing,
      repaired,
      quarantined,
    });
  return verification;
}
