/**
 * The audit role of the Store: an append-only trail of who did what — a mailbox stopped or
 * reconnected, a Message-ID collision the engine met (R5), an erasure (F8).
 *
 * It keeps the rules of every Store role (see {@link Store}).
 */
import type { FirmId } from "../../domain/model.js";

export interface NewAuditEntry {
  /** A member id, `system`, or an automation's name. */
  actor: string;
  action: string;
  /** The record acted on, e.g. `contact:…`. */
  subject: string | undefined;
  /** Log-safe facts only: no message content, no personal data beyond ids. */
  details: Record<string, unknown>;
}

export interface AuditEntry extends NewAuditEntry {
  id: string;
  firmId: FirmId;
  at: Date;
}

/** The firm's audit trail. */
export interface AuditStore {
  appendAudit(firmId: FirmId, entry: NewAuditEntry, at: Date): Promise<AuditEntry>;
  /** Newest first. Default limit 100. */
  listAudit(firmId: FirmId, limit?: number): Promise<AuditEntry[]>;
}
