/**
 * `@clientmail/core/internal`: the engine's parts that clientmail's own adapters, providers, test
 * kit and benchmarks use — job names and handlers, the single-mailbox sync, pacing checks, the
 * backoff. Not the public API: names and signatures here may change in any release. Hosts use
 * `createClientMail` (and `createWorker` for worker processes) from `@clientmail/core`.
 *
 * @module
 */
export {
  MailboxSync,
  syncDefaults,
  loadDirectory,
  safeFilename,
  type MailboxSyncOptions,
} from "./engine/mailbox-sync.js";
export {
  saveAttachmentsJob,
  saveAttachmentsHandler,
  type AttachmentJobDependencies,
} from "./engine/attachments.js";
export { readMessageSource } from "./engine/message-source.js";
export { auditMailbox } from "./engine/audit.js";
export { syncJob, backfillJob, workerJobs } from "./engine/worker.js";
export { eraseFilesJob, eraseFilesHandler, type EraseFilesDependencies } from "./facade/erasure.js";
export {
  routePush,
  pushJobs,
  pushSubscribeJob,
  pushRenewJob,
  renewalTime,
  secretHash,
} from "./engine/push.js";
export {
  outboxSendJob,
  outboxJob,
  outboxSendHandler,
  sendQueued,
  fileSentMessage,
  heldAfterCrashError,
  permissionAtSend,
  reportFailingAutomation,
  type OutboxDependencies,
  type OutboxRunResult,
} from "./engine/outbox.js";
export { credentialsContext, readCredentials, storeCredentials } from "./engine/credentials.js";
export { safeCause } from "./engine/error-cause.js";
export { invitationHandlers, invitationJobs, invitationJobsFor } from "./engine/invitations.js";
