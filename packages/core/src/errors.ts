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
