/**
 * Events after a committed page. Events are hints for the host (live UI updates, metrics); what
 * must not be lost — notifications, attachment saves — is written or enqueued inside the page's
 * transaction instead (R8).
 */
import type { EventEmitter } from "eventemitter3";
import { ClientMailError } from "../errors.js";
import type { MailboxId, MessageRecordId } from "../domain/model.js";
import type { BlobStore } from "../ports/blob-store.js";
import type { Clock } from "../ports/clock.js";
import type { DocumentSink } from "../ports/document-sink.js";
import type { JobQueue } from "../ports/job-queue.js";
import type { Logger } from "../ports/logger.js";
import type { Metrics } from "../ports/metrics.js";
import type { MessageToFile, Store } from "../ports/store.js";
import type { SyncEvents } from "./events.js";

/** The ports the engine's stages use. */
export interface EffectDependencies {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Where auto-saved attachments go (F9); needs `queue` and `blobs`. */
  documents?: DocumentSink | undefined;
  /** Durable jobs (R8): attachment saves. */
  queue?: JobQueue | undefined;
  /** Message sources (R11) and staged attachments (F9). */
  blobs?: BlobStore | undefined;
  events?: EventEmitter<SyncEvents> | undefined;
  /** Counters and histograms for the host's exporter; see the Metrics port. */
  metrics?: Metrics | undefined;
}

/** One message a committed page filed or saw again. */
export interface FiledEffect {
  recordId: MessageRecordId;
  created: boolean;
  message: MessageToFile;
}

/** Emits `message.filed` for each message of a committed page, in the page's order. */
export function emitFiled(
  deps: EffectDependencies,
  firmId: string,
  mailboxId: MailboxId,
  filed: readonly FiledEffect[],
): void {
  for (const { recordId, created, message } of filed) {
    deps.events?.emit("message.filed", {
      firmId,
      mailboxId,
      messageRecordId: recordId,
      threadId: message.threadId,
      accountIds: message.filings.map((f) => f.accountId),
      direction: message.direction,
      created,
    });
  }
}

/** Strips path separators and control characters; keeps a usable name. */
export function safeFilename(name: string): string {
  const cleaned = name
    .normalize("NFC")
    // eslint-disable-next-line no-control-regex -- control characters are exactly what must go
    .replace(/[\u0000-\u001f\u007f/\\]/g, "_")
    .replace(/^\.+/, "")
    .trim()
    .slice(0, 200);
  return cleaned === "" ? "attachment" : cleaned;
}

/** The code of an error, for logs. */
export function codeOf(error: unknown): string {
  return ClientMailError.isInstance(error) ? error.code : error instanceof Error ? error.name : "unknown";
}
