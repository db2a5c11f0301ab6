/**
 * `@clientmail/core`: the rules that decide which email is client mail and where it is filed,
 * how it is threaded, who may send from which mailbox, and what each contact toggle means — pure,
 * synchronous and fast — plus the errors every clientmail package throws.
 *
 * @example
 * ```ts
 * import { FirmDirectory, decideFiling } from "@clientmail/core";
 *
 * const directory = FirmDirectory.build({
 *   internalAddresses: ["ann@firm.com"],
 *   internalDomains: ["firm.com"],
 *   links: [{ id: "l1", accountId: "acme", email: "cfo@acme.com", emailSync: true }],
 * });
 * decideFiling(directory, { from: [{ address: "cfo@acme.com" }], sender: [], replyTo: [],
 *   to: [{ address: "ann@firm.com" }], cc: [], bcc: [] });
 * // -> { filed: true, direction: "inbound", accountIds: ["acme"], ... }
 * ```
 *
 * @module
 */
export * from "./errors.js";
export * from "./domain/model.js";
export * from "./domain/envelope.js";
export * from "./domain/addresses.js";
export * from "./domain/settings.js";
export * from "./domain/schemas.js";
export * from "./domain/filing.js";
export * from "./domain/threading.js";
export * from "./domain/permissions.js";
export * from "./domain/templates.js";
export * from "./domain/notifications.js";
export * from "./engine/mailbox-sync.js";
export * from "./engine/backoff.js";
export {
  saveAttachmentsJob,
  saveAttachmentsHandler,
  type AttachmentJobDependencies,
} from "./engine/attachments.js";
export { readMessageSource } from "./engine/message-source.js";
export { auditMailbox } from "./engine/audit.js";
export {
  createWorker,
  syncJob,
  backfillJob,
  workerJobs,
  type SyncWorker,
  type WorkerSettings,
  type WorkerHealth,
} from "./engine/worker.js";
export type { SyncEvents } from "./engine/events.js";
export * from "./keyring/index.js";
export * from "./engine/sync-service.js";
export * from "./client.js";
export * from "./domain/sending.js";
export * from "./domain/identity.js";
export * from "./domain/storable.js";
export { erasureTombstone } from "./domain/erasure.js";
export { contactAddressSchema, type ContactAddressInput } from "./facade/contacts.js";
export {
  threadPageSchema,
  type ThreadPage,
  type ThreadPageInput,
  type InboxThread,
} from "./facade/threads.js";
export { memberNotificationsSchema, type MemberNotificationsInput } from "./facade/members.js";
export {
  eraseFilesJob,
  eraseFilesHandler,
  type ErasureReport,
  type EraseFilesDependencies,
} from "./facade/erasure.js";
export {
  checkPacingTake,
  checkPacingAcquire,
  checkPacingTryAcquire,
  pacingSleep,
} from "./domain/pacing-input.js";
export {
  routePush,
  pushJobs,
  pushSubscribeJob,
  pushRenewJob,
  renewalTime,
  secretHash,
  type PushNotification,
  type PushOutcome,
} from "./engine/push.js";
export type { ProviderContext, SenderFactory } from "./engine/provider-pool.js";
export * from "./domain/outgoing.js";
export {
  outboxSendJob,
  outboxJob,
  outboxSendHandler,
  sendQueued,
  fileSentMessage,
  heldAfterCrashError,
  permissionAtSend,
  reportFailingAutomation,
  type AfterCrashPolicy,
  type OutboxDependencies,
  type OutboxRunResult,
  type OutboxWorkerSettings,
} from "./engine/outbox.js";
export {
  actorSchema,
  sendInputSchema,
  replyInputSchema,
  rescheduleInputSchema,
  releaseHeldInputSchema,
  clientNotificationInputSchema,
  weeklyDigestInputSchema,
  type WeeklyDigestInput,
  type SendInput,
  type ReplyInput,
  type RescheduleInput,
  type ReleaseHeldInput,
  type ClientNotificationInput,
  type SendResult,
  type ScheduledItem,
} from "./facade/sending.js";
export type { EmlExport } from "./facade/message-source.js";
export {
  renderableBody,
  sanitizeBodyHtml,
  type RenderableBody,
  type RenderableBodyOptions,
} from "./content/renderable-body.js";
export { safeAttachmentName } from "./content/display-name.js";
export { textFromHtml } from "./content/html-text.js";
export type { RenderedMessage, RenderedThreadView } from "./facade/content.js";
