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
export * from "./retry/index.js";
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
export type { SyncDependencies, SyncPassResult } from "./engine/mailbox-sync.js";
export { createWorker, type SyncWorker, type WorkerSettings, type WorkerHealth } from "./engine/worker.js";
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
export { firmPatchSchema, type FirmPatchInput } from "./facade/firm.js";
export type { ErasureReport } from "./facade/erasure.js";
export type { PushNotification, PushOutcome } from "./engine/push.js";
export type { InvitationEvent, InvitationHandler } from "./engine/invitations.js";
export type { ProviderContext, SenderFactory } from "./engine/provider-pool.js";
export * from "./domain/outgoing.js";
export type { AfterCrashPolicy, OutboxWorkerSettings } from "./engine/outbox.js";
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
export {
  ClientMailSync,
  syncOptionsSchema,
  type ProvidersSetting,
  type SendersSetting,
  type SyncOptions,
} from "./facade/sync-control.js";
// The defaults a host passes for the Clock, Logger and Metrics ports; also on `@clientmail/core/ports`.
export { silentLogger } from "./ports/logger.js";
export { systemClock } from "./ports/clock.js";
export { fromPino, type PinoLike } from "./ports/from-pino.js";
export { noopMetrics, type Metrics } from "./ports/metrics.js";
