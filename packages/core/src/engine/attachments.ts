/**
 * F9 and R8: attachments of filed messages reach the account's documents through a durable job.
 *
 * While a page is prepared, the attachments of a copy in a mailbox that auto-saves them are
 * streamed into the BlobStore under keys of that copy (staging). The page's transaction enqueues
 * one `attachments.save` job per message and account list. The job copies each file from the
 * BlobStore to the DocumentSink, records it as saved for the account, and finally removes the
 * staged blobs. A crash anywhere runs the job again: the sink's save is idempotent per (firm,
 * account, content hash) and a file already recorded is not saved again, so none is lost and none
 * doubled.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import type { EventEmitter } from "eventemitter3";
import { ClientMailError } from "../errors.js";
import type { FetchedMessage } from "../domain/envelope.js";
import type { FirmId, MailboxId } from "../domain/model.js";
import type { BlobStore } from "../ports/blob-store.js";
import type { DocumentSink } from "../ports/document-sink.js";
import type { JobHandler, JobPayload, NewJob } from "../ports/job-queue.js";
import type { Logger } from "../ports/logger.js";
import type { DirectoryStore, FilingStore } from "../ports/store.js";
import { safeFilename } from "./after-commit.js";
import type { SyncEvents } from "./events.js";

/** The job name. */
export const saveAttachmentsJob = "attachments.save";

/** One staged file. */
export interface StagedFile {
  blobKey: string;
  filename: string;
  contentType: string;
  size: number;
  contentHash: string;
}

/** What a copy left in the BlobStore while its page was prepared. */
export interface StagedCopy {
  /** The original source (R11). */
  sourceKey: string | undefined;
  /** Attachments waiting to be saved (F9). */
  files: StagedFile[];
}

/**
 * The blob keys of one staging of a copy: under the copy's prefix, in a folder of their own per
 * staging. Two stagings of one copy can run at once (an address backfill, which takes no lease,
 * beside a pass): the one whose commit finds the message filed already removes what it staged,
 * while the message row refers to the other's source (R11) and a job to the other's files (F9).
 * With shared keys that removal took them (bug found by the toggle fault case). A page replayed
 * after a crash stages under new keys: what the crash left behind is only wasted space.
 */
function stagingPrefix(firmId: FirmId, mailboxId: MailboxId, providerId: string): string {
  const copy = bytesToHex(sha256(utf8ToBytes(`${mailboxId}\u0000${providerId}`))).slice(0, 40);
  return `${firmId}/${copy}/${globalThis.crypto.randomUUID()}`;
}

/**
 * Puts a fetched copy's source (always, R11) and its attachments (when they will be saved, F9)
 * into the BlobStore.
 */
export async function stageCopy(
  blobs: BlobStore,
  firmId: FirmId,
  mailboxId: MailboxId,
  content: FetchedMessage,
  saveAttachments: boolean,
): Promise<StagedCopy> {
  const prefix = stagingPrefix(firmId, mailboxId, content.envelope.providerId);
  let sourceKey: string | undefined;
  if (content.source) {
    sourceKey = `${prefix}/source.eml`;
    await blobs.put(sourceKey, content.source());
  }
  const files: StagedFile[] = [];
  if (saveAttachments) {
    for (const attachment of content.attachments) {
      if (files.some((f) => f.contentHash === attachment.contentHash)) continue;
      const blobKey = `${prefix}/attachments/${attachment.contentHash}`;
      await blobs.put(blobKey, attachment.content());
      files.push({
        blobKey,
        filename: attachment.filename,
        contentType: attachment.contentType,
        size: attachment.size,
        contentHash: attachment.contentHash,
      });
    }
  }
  return { sourceKey, files };
}

/** Removes what a copy staged (after its page was abandoned, or its files were saved). */
export async function unstage(blobs: BlobStore, staged: StagedCopy, keepSource: boolean): Promise<void> {
  for (const file of staged.files) await blobs.delete(file.blobKey);
  if (!keepSource && staged.sourceKey) await blobs.delete(staged.sourceKey);
}

/** The job that saves a message's staged files into its accounts. */
export function saveAttachmentsJobFor(
  firmId: FirmId,
  mailboxId: MailboxId,
  providerId: string,
  accountIds: readonly string[],
  files: readonly StagedFile[],
): NewJob {
  const payload: JobPayload = {
    firmId,
    mailboxId,
    accountIds: [...accountIds],
    files: files.map((f) => ({ ...f })),
  };
  return {
    name: saveAttachmentsJob,
    payload,
    key: `${saveAttachmentsJob}:${firmId}:${mailboxId}:${providerId}`,
    group: firmId,
  };
}

/** What the job handler needs. */
export interface AttachmentJobDependencies {
  /** Reads the account (deleted meanwhile?) and records each saved file (F9). */
  store: DirectoryStore & FilingStore;
  blobs: BlobStore;
  documents: DocumentSink;
  logger: Logger;
  events?: EventEmitter<SyncEvents> | undefined;
}

interface Payload {
  firmId: string;
  mailboxId: string;
  accountIds: string[];
  files: StagedFile[];
}

/** The `attachments.save` handler. */
export function saveAttachmentsHandler(deps: AttachmentJobDependencies): JobHandler {
  return async (job) => {
    const { firmId, accountIds, files } = job.payload as unknown as Payload;
    for (const file of files) {
      for (const accountId of accountIds) {
        if (await deps.store.isAttachmentSaved(firmId, accountId, file.contentHash)) continue;
        if (!(await deps.store.getAccount(firmId, accountId))) continue; // deleted meanwhile
        const content = await deps.blobs.get(file.blobKey);
        if (!content) {
          // Staged blobs go only after every file was recorded: a missing one means this job's
          // earlier run finished the work for this file elsewhere, or the blob store lost it.
          throw new ClientMailError("internal", "A staged attachment is missing from the blob store", {
            retryable: false,
            details: { blobKey: file.blobKey },
          });
        }
        const saved = await deps.documents.save({
          firmId,
          accountId,
          filename: safeFilename(file.filename),
          contentType: file.contentType,
          size: file.size,
          contentHash: file.contentHash,
          content,
        });
        // Recorded only once the sink has the file: a crash before this line saves it again,
        // which the sink's idempotent save turns into the same document.
        if (await deps.store.claimAttachment(firmId, accountId, file.contentHash)) {
          deps.events?.emit("attachment.saved", {
            firmId,
            accountId,
            documentId: saved.documentId,
            contentHash: file.contentHash,
          });
        }
      }
    }
    for (const file of files) await deps.blobs.delete(file.blobKey);
  };
}
