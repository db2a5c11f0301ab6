/**
 * One error class for every failure a caller must handle. `code` is stable and safe to branch on;
 * `message` is for humans and may change.
 */

/** Every code a {@link ClientMailError} can carry. */
export type ClientMailErrorCode =
  | "validation_failed"
  | "not_found"
  | "conflict"
  | "permission_denied"
  | "unknown_shortcode"
  | "mailbox_unavailable"
  | "cursor_expired"
  | "rate_limited"
  | "auth_revoked"
  | "transient"
  | "lease_lost"
  | "decryption_failed"
  | "unsupported"
  /** The database has no clientmail schema (or an older one): run the store's `migrate()`. */
  | "not_migrated"
  | "internal";

const marker = Symbol.for("clientmail.error");

/** Options shared by every {@link ClientMailError}. */
export interface ClientMailErrorOptions {
  cause?: unknown;
  /** Whether repeating the same call later may succeed. Defaults per code. */
  retryable?: boolean;
  /** Structured, log-safe facts about the failure (never secrets or message bodies). */
  details?: Record<string, unknown>;
}

const retryableByDefault: ReadonlySet<ClientMailErrorCode> = new Set([
  "rate_limited",
  "transient",
  "lease_lost",
]);

/** The base of every error clientmail throws. */
export class ClientMailError extends Error {
  readonly [marker] = true;
  readonly code: ClientMailErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ClientMailErrorCode, message: string, options: ClientMailErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ClientMailError";
    this.code = code;
    this.retryable = options.retryable ?? retryableByDefault.has(code);
    this.details = options.details ?? {};
  }

  /** True for any clientmail error, even one thrown by another installed copy of the package. */
  static isInstance(value: unknown): value is ClientMailError {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[marker] === true;
  }

  /** True when `value` is a clientmail error with the given code. */
  static hasCode<C extends ClientMailErrorCode>(
    value: unknown,
    code: C,
  ): value is ClientMailError & { code: C } {
    return ClientMailError.isInstance(value) && value.code === code;
  }
}

/** One problem found in an input. */
export interface ValidationIssue {
  /** Dotted path of the offending field, e.g. `links.0.email`. */
  field: string;
  /** The value that was given (redacted for secrets). */
  value: unknown;
  /** What was expected instead, in words. */
  expected: string;
}

function describeValue(value: unknown): string {
  if (typeof value === "string")
    return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
  if (value === undefined) return "undefined";
  try {
    const text = JSON.stringify(value);
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** An input failed validation. Lists every offending field with its value and what was expected. */
export class ValidationError extends ClientMailError {
  readonly issues: readonly ValidationIssue[];

  constructor(issues: readonly ValidationIssue[], options: Omit<ClientMailErrorOptions, "details"> = {}) {
    const summary = issues
      .map(
        (issue) =>
          `${issue.field || "(input)"}: got ${describeValue(issue.value)}, expected ${issue.expected}`,
      )
      .join("; ");
    super("validation_failed", `Invalid input: ${summary}`, { ...options, details: { issues } });
    this.name = "ValidationError";
    this.issues = issues;
  }
}

/** The caller asked for something that does not exist in this firm. */
export class NotFoundError extends ClientMailError {
  constructor(entity: string, id: string, options: ClientMailErrorOptions = {}) {
    super("not_found", `${entity} ${JSON.stringify(id)} was not found`, {
      ...options,
      details: { entity, id, ...options.details },
    });
    this.name = "NotFoundError";
  }
}

/** The provider asked us to slow down. `retryAfterMs` is what it asked for, when it said. */
export class RateLimitedError extends ClientMailError {
  readonly retryAfterMs: number | undefined;

  constructor(message: string, retryAfterMs: number | undefined, options: ClientMailErrorOptions = {}) {
    super("rate_limited", message, { ...options, details: { retryAfterMs, ...options.details } });
    this.name = "RateLimitedError";
    this.retryAfterMs = retryAfterMs;
  }
}

/** Why a send (or another act on a mailbox) was refused. */
export type PermissionRefusalReason =
  | "not_connected_and_not_delegated"
  | "not_a_team_member"
  | "mailbox_not_found"
  | "mailbox_sync_stopped"
  | "no_usable_mailbox"
  | "role_required";

/** The actor may not do this. `reason` says why, in a form a UI can branch on. */
export class PermissionDeniedError extends ClientMailError {
  readonly reason: PermissionRefusalReason;

  constructor(reason: PermissionRefusalReason, message: string, options: ClientMailErrorOptions = {}) {
    super(reason === "mailbox_sync_stopped" ? "mailbox_unavailable" : "permission_denied", message, {
      ...options,
      details: { reason, ...options.details },
    });
    this.name = "PermissionDeniedError";
    this.reason = reason;
  }
}

/**
 * Why a connection to a mail server failed (R9). These are the only connection facts a user is
 * shown: never the server's banner, an address it resolved to, or the native error text (that
 * stays in `cause`, for logs).
 *
 * | reason               | code                  | retryable | when                                                                 |
 * | -------------------- | --------------------- | --------- | -------------------------------------------------------------------- |
 * | `host_refused`       | `permission_denied`   | no        | the host's network policy forbids the destination; nothing was sent |
 * | `dns_failed`         | `transient`           | yes       | the server's name did not resolve                                    |
 * | `connection_refused` | `transient`           | yes       | refused, reset, unreachable, or closed before the greeting          |
 * | `timeout`            | `transient`           | yes       | no connection, greeting or TLS upgrade in time                       |
 * | `tls_failed`         | `mailbox_unavailable` | no        | certificate, handshake or protocol version; STARTTLS not offered     |
 * | `auth_failed`        | `auth_revoked`        | no        | the server refused the credentials                                   |
 */
export type ConnectionFailureReason =
  "host_refused" | "dns_failed" | "connection_refused" | "timeout" | "tls_failed" | "auth_failed";

/** What a failed connection suggests about the settings, when a failure points at one. */
export type ConnectionFailureHint =
  /** A TLS client got a cleartext answer: the port may expect STARTTLS (or nothing secure). */
  | "tls_to_plaintext_port"
  /** A cleartext client heard nothing: the port may expect TLS from the first byte. */
  | "plaintext_to_tls_port"
  /** The server did not offer STARTTLS (or refused it): nothing was sent in clear text. */
  | "starttls_not_offered";

const connectionCodes: Record<ConnectionFailureReason, ClientMailErrorCode> = {
  host_refused: "permission_denied",
  dns_failed: "transient",
  connection_refused: "transient",
  timeout: "transient",
  tls_failed: "mailbox_unavailable",
  auth_failed: "auth_revoked",
};

const connectionMessages: Record<ConnectionFailureReason, string> = {
  host_refused: "The mail server's address is not allowed by this application's network policy",
  dns_failed: "The mail server's name could not be resolved",
  connection_refused: "The mail server could not be reached",
  timeout: "The mail server did not answer in time",
  tls_failed: "A secure connection to the mail server could not be established",
  auth_failed: "The mail server refused the mailbox's credentials",
};

const hintMessages: Record<ConnectionFailureHint, string> = {
  tls_to_plaintext_port:
    'the server answered without TLS: this port may expect STARTTLS (security "starttls", usually port 143 or 587)',
  plaintext_to_tls_port:
    'this port may expect TLS from the first byte (security "tls", usually port 993 or 465)',
  starttls_not_offered: "the server did not offer STARTTLS, so nothing was sent in clear text",
};

const connectionMarker = Symbol.for("clientmail.connection-error");

/**
 * A connection to a mail server failed, or was refused before it was made (R9). `code` follows
 * from `reason` (see {@link ConnectionFailureReason}), so a caller that only knows codes still
 * does the right thing; `reason` and `hint` are for the user and for settings screens. The
 * message is fixed per reason and hint: it never carries server or native error text.
 */
export class ConnectionError extends ClientMailError {
  readonly [connectionMarker] = true;
  readonly reason: ConnectionFailureReason;
  readonly hint: ConnectionFailureHint | undefined;

  constructor(
    reason: ConnectionFailureReason,
    options: Omit<ClientMailErrorOptions, "retryable"> & { hint?: ConnectionFailureHint | undefined } = {},
  ) {
    const { hint } = options;
    super(
      connectionCodes[reason],
      hint === undefined
        ? connectionMessages[reason]
        : `${connectionMessages[reason]}: ${hintMessages[hint]}`,
      {
        ...(options.cause === undefined ? {} : { cause: options.cause }),
        details: { ...options.details, reason, ...(hint === undefined ? {} : { hint }) },
      },
    );
    this.name = "ConnectionError";
    this.reason = reason;
    this.hint = hint;
  }

  /** True for any connection error, even one thrown by another installed copy of the package. */
  static override isInstance(value: unknown): value is ConnectionError {
    return (
      typeof value === "object" &&
      value !== null &&
      (value as Record<symbol, unknown>)[connectionMarker] === true
    );
  }
}

/** A template used shortcodes that do not exist. Lists all of them. */
export class UnknownShortcodeError extends ClientMailError {
  readonly shortcodes: readonly string[];

  constructor(shortcodes: readonly string[], field: string) {
    super(
      "unknown_shortcode",
      `Unknown shortcode${shortcodes.length > 1 ? "s" : ""} in ${field}: ${shortcodes.map((s) => `[${s}]`).join(", ")}`,
      { details: { shortcodes, field } },
    );
    this.name = "UnknownShortcodeError";
    this.shortcodes = shortcodes;
  }
}
