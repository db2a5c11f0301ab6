/**
 * `PushStore`: the push registrations of a mailbox (Gmail `users.watch`, Graph change
 * subscriptions), recorded by the worker in the transaction that also enqueues their renewal job
 * (R8), and read when a notification arrives to check it names a registration we made.
 *
 * It keeps the rules of every Store role (see {@link Store}).
 */
import type { FirmId, MailboxId } from "../../domain/model.js";

/** One push registration at a provider. Holds no secret: only the SHA-256 of the one we sent. */
export interface PushRegistrationRecord {
  mailboxId: MailboxId;
  /**
   * The provider's id: a Graph subscription id, or `gmail:<address>` for Gmail's one watch per
   * user. Unique per firm.
   */
  subscriptionId: string;
  provider: "gmail" | "graph";
  /** What is watched (a Graph folder, a Pub/Sub topic); used to re-create it. */
  resource: string;
  /**
   * Lower-case hex SHA-256 of the secret the provider echoes in each notification (Graph's
   * `clientState`); empty when the provider echoes none (Gmail: Pub/Sub's OIDC token is the
   * host's to check).
   */
  secretHash: string;
  /** When the provider stops sending notifications unless renewed. */
  expiresAt: Date;
}

/** Push registrations (Y2): the worker renews them with jobs and checks notifications against them. */
export interface PushStore {
  /**
   * Inserts or replaces the registration keyed by (firm, `subscriptionId`). Throws `not_found` for a
   * mailbox that is not the firm's.
   */
  putPushRegistration(firmId: FirmId, record: PushRegistrationRecord): Promise<void>;
  /** The registration with this id, or `undefined`. */
  getPushRegistration(firmId: FirmId, subscriptionId: string): Promise<PushRegistrationRecord | undefined>;
  /** The mailbox's registrations, by subscription id. Empty for an unknown mailbox. */
  listPushRegistrations(firmId: FirmId, mailboxId: MailboxId): Promise<PushRegistrationRecord[]>;
  /** Removes one registration; false when there was none. */
  removePushRegistration(firmId: FirmId, subscriptionId: string): Promise<boolean>;
}
