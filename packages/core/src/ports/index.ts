/**
 * The ports: interfaces the outside implements for clientmail's core. Adapters import them with
 * `import type` from `@clientmail/core/ports`.
 *
 * @module
 */
export type {
  ChangePage,
  ParticipantSearch,
  CallOptions,
  PushSubscription,
  MailProvider,
} from "./mail-provider.js";
export type {
  MailSender,
  OutgoingMessage,
  OutgoingAddress,
  OutgoingAttachment,
  SendReceipt,
  SentLookup,
} from "./mail-sender.js";
export type {
  JobQueue,
  JobHandler,
  Job,
  NewJob,
  JobPayload,
  JobValue,
  FailedJob,
  QueueStats,
  JobWorker,
  WorkOptions,
} from "./job-queue.js";
export type { BlobStore } from "./blob-store.js";
export type { Clock } from "./clock.js";
export { systemClock } from "./clock.js";
export type { Logger } from "./logger.js";
export { silentLogger } from "./logger.js";
export { fromPino, type PinoLike } from "./from-pino.js";
export type { Metrics, MetricName, MetricLabels, CounterName, HistogramName, GaugeName } from "./metrics.js";
export { noopMetrics } from "./metrics.js";
export type { DocumentSink, DocumentToSave } from "./document-sink.js";
export type { Keyring, EncryptionContext } from "./keyring.js";
export type {
  Store,
  DirectoryStore,
  SyncStateStore,
  FilingStore,
  ThreadStore,
  NotificationStore,
  OutboxStore,
  AuditStore,
  NewFirm,
  FirmPatch,
  NewTeamMember,
  TeamMemberPatch,
  NewMailbox,
  NewAccount,
  AccountPatch,
  NewContact,
  ContactPatch,
  NewLink,
  LinkPatch,
  LinkFilter,
  MessageDirection,
  Sighting,
  AttachmentMeta,
  Filing,
  MessageToFile,
  FiledMessage,
  FileOutcome,
  SightingRemoval,
  ThreadView,
  ThreadListOptions,
  ThreadKeyConflict,
  NewNotification,
  Notification,
  NewAuditEntry,
  AuditEntry,
  OutboxActor,
  OutboxState,
  NewOutboxMessage,
  OutboxMessage,
  OutboxFilter,
  MailboxCredential,
  SubjectEntry,
  QuarantineReason,
  QuarantineEntry,
  QuarantineFilter,
  ThreadKeysEntry,
  ThreadSubjectEntries,
} from "./store.js";
export type { ThreadPosition, ThreadTraces, ThreadTracesRemoved } from "./store.js";
export type { DocumentRef } from "./document-sink.js";
export type { PushStore, PushRegistrationRecord } from "./store.js";
export type { Pacing, PacingSlot, RateBudget, MailboxPacing } from "./pacing.js";
/** Input checks every Pacing adapter runs, so all adapters refuse the same inputs the same way. */
export {
  checkPacingTake,
  checkPacingAcquire,
  checkPacingTryAcquire,
  pacingSleep,
} from "../domain/pacing-input.js";
export type { PushRegistrar, PushRegistration } from "./mail-provider.js";
export type { DocumentSource, SourceDocument } from "./document-source.js";
export type { AccessToken, AccessTokenRequest, TokenSource } from "./token-source.js";
