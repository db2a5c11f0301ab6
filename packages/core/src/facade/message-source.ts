/**
 * R11 through the facade: the original source of a filed message, read back byte for byte and
 * exported as an `.eml` file. The bytes come from the BlobStore the sync engine kept them in; the
 * facade only checks who asks and names the file.
 */
import { PermissionDeniedError, ValidationError } from "../errors.js";
import type { FirmId, MemberId, MessageRecordId } from "../domain/model.js";
import type { BlobStore } from "../ports/blob-store.js";
import type { DirectoryStore, FilingStore } from "../ports/store.js";
import { safeFilename } from "../engine/after-commit.js";
import { readMessageSource } from "../engine/message-source.js";

/** A filed message as an `.eml` file. */
export interface EmlExport {
  /** The subject made safe as a file name, with `.eml` (`message.eml` without a subject). */
  filename: string;
  contentType: "message/rfc822";
  /** The original source, exactly as the provider delivered it (R11). */
  content: AsyncIterable<Uint8Array>;
}

/** What reading a source needs. */
export interface MessageSourceDependencies {
  store: DirectoryStore & FilingStore;
  blobs: BlobStore | undefined;
}

function blobsOf(deps: MessageSourceDependencies): BlobStore {
  if (deps.blobs) return deps.blobs;
  throw new ValidationError([
    {
      field: "settings.blobs",
      value: undefined,
      expected: "the BlobStore the sync keeps message sources in, to read a message's source",
    },
  ]);
}

/**
 * The original source of a filed message, streamed (R11). Any member of the firm may read it, as
 * they may read the message. Throws `permission_denied` for someone who is not a member of the
 * firm, and `not_found` for a message of another firm or one whose source was not kept.
 */
export async function messageSource(
  deps: MessageSourceDependencies,
  firmId: FirmId,
  requestedBy: MemberId,
  messageId: MessageRecordId,
): Promise<AsyncIterable<Uint8Array>> {
  const blobs = blobsOf(deps);
  const member = await deps.store.getMember(firmId, requestedBy);
  if (!member)
    throw new PermissionDeniedError("not_a_team_member", "Only the firm's team members can read its mail");
  return await readMessageSource(deps.store, blobs, firmId, messageId);
}

/** {@link messageSource} as an `.eml` file named after the message's subject. */
export async function exportMessageAsEml(
  deps: MessageSourceDependencies,
  firmId: FirmId,
  requestedBy: MemberId,
  messageId: MessageRecordId,
): Promise<EmlExport> {
  const content = await messageSource(deps, firmId, requestedBy, messageId);
  const message = await deps.store.getMessage(firmId, messageId);
  const subject = message?.subject.trim() ?? "";
  const base = subject === "" ? "message" : safeFilename(subject).slice(0, 150);
  return { filename: `${base}.eml`, contentType: "message/rfc822", content };
}
