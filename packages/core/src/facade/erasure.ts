/**
 * R10 / F8: erasing a contact — a client's privacy request. In one store transaction: every
 * message filed through the contact's links or with one of their addresses among its participants
 * is deleted with its sightings and filings; what threading kept of it (thread keys, the subject
 * entries that hold subjects and addresses, threads left empty with their mutes) goes too, as do
 * the new-mail notifications about it; the contact and its
 * links are deleted; each address leaves a tombstone (a firm-bound hash, never the address) so
 * that no later sync files its mail again; and the audit trail records who did it and when. The
 * saved documents (DocumentSink) and message sources (BlobStore) live outside the store: their
 * deletion is a durable job enqueued in that same transaction (R8), or, without a queue, is done
 * right after the commit.
 */
import { PermissionDeniedError, NotFoundError } from "../errors.js";
import { erasureTombstone } from "../domain/erasure.js";
import type { AccountId, ContactId, FirmId, MemberId } from "../domain/model.js";
import type { BlobStore } from "../ports/blob-store.js";
import type { DocumentRef, DocumentSink } from "../ports/document-sink.js";
import type { JobHandler, JobPayload, NewJob } from "../ports/job-queue.js";
import type { Logger } from "../ports/logger.js";
import type { ThreadTracesRemoved } from "../ports/store.js";
import { withdrawnInvitations } from "../engine/invitations.js";
import { checkIds, emitEffects, enqueueEffects, type FacadeContext } from "./context.js";

/** The job that deletes an erased contact's documents and message sources. */
export const eraseFilesJob = "erasure.files";

/** What {@link eraseContact} did. Counts only: the report is as log-safe as the audit entry. */
export interface ErasureReport {
  contactId: ContactId;
  /** Filed messages deleted. */
  messages: number;
  /** Links deleted with the contact. */
  links: number;
  /** Addresses that got a tombstone. */
  addresses: number;
  /** Saved documents to delete from the DocumentSink. */
  documents: number;
  /** Message sources to delete from the BlobStore. */
  sources: number;
  /**
   * `deleted`: documents and sources were deleted before this call returned; `queued`: a durable
   * job deletes them; `kept`: the facade has no DocumentSink with `delete` or no BlobStore to
   * delete them from (see `ClientMailSettings.documents` / `blobs`), so the host must.
   */
  files: "deleted" | "queued" | "kept" | "none";
  notifications: number;
  threadTraces: ThreadTracesRemoved;
}

interface ErasedFiles {
  firmId: FirmId;
  documents: Array<{ accountId: AccountId; contentHash: string }>;
  sourceKeys: string[];
}

/** What the file deletion needs; either may be missing, and then its part is left. */
export interface EraseFilesDependencies {
  documents?: DocumentSink | undefined;
  blobs?: BlobStore | undefined;
  logger: Logger;
}

async function eraseFiles(deps: EraseFilesDependencies, files: ErasedFiles): Promise<void> {
  const sink = deps.documents;
  if (sink?.delete) {
    for (const document of files.documents) {
      const ref: DocumentRef = { firmId: files.firmId, ...document };
      await sink.delete(ref);
    }
  }
  if (deps.blobs) for (const key of files.sourceKeys) await deps.blobs.delete(key);
}

/**
 * The `erasure.files` handler: deletes the documents and sources an erasure listed. Idempotent
 * (both ports delete absent things without error), so a retried job is harmless.
 */
export function eraseFilesHandler(deps: EraseFilesDependencies): JobHandler {
  return async (job) => {
    await eraseFiles(deps, job.payload as unknown as ErasedFiles);
  };
}

function eraseFilesJobFor(files: ErasedFiles): NewJob {
  const payload: JobPayload = {
    firmId: files.firmId,
    documents: files.documents.map((d) => ({ ...d })),
    sourceKeys: [...files.sourceKeys],
  };
  return { name: eraseFilesJob, payload, group: files.firmId, maxAttempts: 25 };
}

/**
 * R10: erases a contact and everything filed for them (see the module's description). Only the
 * firm's owner and admins may (F8). Permanent; audited as `contact.erased` with `by` as actor.
 * Throws `not_found` for an unknown contact, `permission_denied` for anyone else.
 */
export async function eraseContact(
  ctx: FacadeContext,
  firmId: FirmId,
  contactId: ContactId,
  by: MemberId,
): Promise<ErasureReport> {
  checkIds({ firmId, contactId, by });
  const requester = await ctx.store.getMember(firmId, by);
  if (!requester || requester.role === "employee")
    throw new PermissionDeniedError("role_required", "Only the firm's owner and admins can erase a contact");
  const now = ctx.clock.now();
  const outcome = await ctx.store.transaction(async (tx) => {
    if (!(await tx.getContact(firmId, contactId))) throw new NotFoundError("Contact", contactId);
    const links = await tx.listLinks(firmId, { contactId });
    const addresses = [...new Set(links.map((l) => l.email))].sort();
    const messages = await tx.findMessagesInvolving(firmId, { linkIds: links.map((l) => l.id), addresses });
    const erasedIds = new Set(messages.map((m) => m.id));

    // Every file of the erased mail, in every account it was filed in, whether saved yet or not.
    const documents: ErasedFiles["documents"] = [];
    const seen = new Set<string>();
    const accountExists = new Map<AccountId, boolean>();
    for (const message of messages)
      for (const filing of message.filings)
        for (const attachment of message.attachments) {
          const key = `${filing.accountId}\u0000${attachment.contentHash}`;
          if (seen.has(key)) continue;
          seen.add(key);
          if (!accountExists.has(filing.accountId))
            accountExists.set(
              filing.accountId,
              (await tx.getAccount(firmId, filing.accountId)) !== undefined,
            );
          if (accountExists.get(filing.accountId))
            documents.push({ accountId: filing.accountId, contentHash: attachment.contentHash });
        }
    const sourceKeys = [...new Set(messages.flatMap((m) => (m.sourceKey ? [m.sourceKey] : [])))];
    const threadIds = [...new Set(messages.map((m) => m.threadId))];

    // H1 keys of the erased messages' own Message-IDs, unless a message that stays refers to them.
    const stillMentioned = new Set<string>();
    for (const threadId of threadIds)
      for (const other of await tx.listThreadMessages(firmId, threadId)) {
        if (erasedIds.has(other.id)) continue;
        for (const id of [other.messageId, ...other.inReplyTo, ...other.references])
          if (id !== undefined) stillMentioned.add(id);
      }
    const keys = messages.flatMap((m) =>
      m.messageId !== undefined && !stillMentioned.has(m.messageId) ? [`mid:${m.messageId}`] : [],
    );

    const erased = await tx.eraseMessages(firmId, [...erasedIds]);
    const threadTraces = await tx.eraseThreadTraces(firmId, { threadIds, keys, participants: addresses });
    const notifications = await tx.deleteNotifications(firmId, "messageRecordId", [...erasedIds]);
    // The files stay recorded as saved, so an `attachments.save` job of this mail still waiting
    // in the queue skips them instead of saving them again after the erasure (F9's claim).
    for (const document of documents)
      await tx.claimAttachment(firmId, document.accountId, document.contentHash);
    await tx.addErasureTombstones(
      firmId,
      addresses.map((address) => erasureTombstone(firmId, address)),
      now,
    );
    await tx.deleteContact(firmId, contactId);
    const files: ErasedFiles = { firmId, documents, sourceKeys };
    const hasFiles = documents.length > 0 || sourceKeys.length > 0;
    if (hasFiles && ctx.queue) await ctx.queue.enqueue(tx, [eraseFilesJobFor(files)]);
    await enqueueEffects(ctx, tx, firmId, withdrawnInvitations(links));
    const report: ErasureReport = {
      contactId,
      messages: erased,
      links: links.length,
      addresses: addresses.length,
      documents: documents.length,
      sources: sourceKeys.length,
      files: !hasFiles ? "none" : ctx.queue ? "queued" : "deleted",
      notifications,
      threadTraces,
    };
    const { contactId: _subject, ...details } = report;
    await tx.appendAudit(
      firmId,
      { actor: by, action: "contact.erased", subject: `contact:${contactId}`, details: { ...details } },
      now,
    );
    return { report, links, files, hasFiles };
  });

  const { report, links, files, hasFiles } = outcome;
  if (hasFiles && !ctx.queue) {
    const canDelete =
      (files.documents.length === 0 || ctx.documents?.delete) && (files.sourceKeys.length === 0 || ctx.blobs);
    if (!canDelete) {
      report.files = "kept";
      ctx.logger.warn(
        "erased contact's files were not deleted: no document sink or blob store to delete from",
        {
          firmId,
          documents: files.documents.length,
          sources: files.sourceKeys.length,
        },
      );
    }
    await eraseFiles({ documents: ctx.documents, blobs: ctx.blobs, logger: ctx.logger }, files);
  }
  emitEffects(ctx, firmId, withdrawnInvitations(links));
  for (const link of links)
    ctx.emit("link.deleted", { firmId, linkId: link.id, accountId: link.accountId, contactId });
  ctx.emit("contact.erased", { firmId, contactId, by, report });
  return report;
}
