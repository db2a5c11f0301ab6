/**
 * The notification role of the Store: what members are told (N1–N4), with snoozing and
 * dismissal (N3). The engine writes new-mail and mailbox-stopped notifications in its own
 * transactions; the facade lists, snoozes and dismisses them.
 *
 * It keeps the rules of every Store role (see {@link Store}).
 */
import type { FirmId, MemberId } from "../../domain/model.js";

export interface NewNotification {
  memberId: MemberId;
  /** What it is about, e.g. `new_mail`, `mailbox_sync_stopped`, `bulk_update_report`. */
  kind: string;
  /** Log-safe, JSON-serialisable facts the UI renders. */
  payload: Record<string, unknown>;
  /**
   * When given, at most one notification exists per (firm, member, dedupeKey): creating it again
   * returns the existing one unchanged.
   */
  dedupeKey?: string | undefined;
}

export interface Notification {
  id: string;
  firmId: FirmId;
  memberId: MemberId;
  kind: string;
  payload: Record<string, unknown>;
  dedupeKey: string | undefined;
  createdAt: Date;
  snoozedUntil: Date | undefined;
  dismissedAt: Date | undefined;
}

/** Members' notifications (N1–N4), snoozed and dismissed (N3). */
export interface NotificationStore {
  /** Creates a notification; idempotent per dedupe key (see {@link NewNotification}). */
  createNotification(firmId: FirmId, input: NewNotification, at: Date): Promise<Notification>;
  /**
   * The member's notifications that are visible at `now`: not dismissed, not snoozed past `now`.
   * Newest first.
   */
  listNotifications(firmId: FirmId, memberId: MemberId, now: Date): Promise<Notification[]>;
  /** Hides it until `until` (N3). False when not found or dismissed. */
  snoozeNotification(firmId: FirmId, notificationId: string, until: Date): Promise<boolean>;
  /** Hides it forever (N3). Idempotent; false when not found. */
  dismissNotification(firmId: FirmId, notificationId: string, at: Date): Promise<boolean>;
}
