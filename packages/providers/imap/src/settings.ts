/**
 * Settings of {@link createImapProvider}, and their validation: every invalid setting is named at
 * once, with its value and what was expected.
 */
import { ValidationError, type ValidationIssue } from "@clientmail/core";
import { resolveMaxMessageBytes } from "@clientmail/provider-utils";
import type { Logger, TokenSource } from "@clientmail/core/ports";
import {
  checkTransportSecurity,
  nodeSocketFactory,
  parseHost,
  resolveHostPolicy,
  type HostPolicy,
  type HostPolicySettings,
  type SocketFactory,
  type TlsSettings,
  type TransportSecurity,
} from "@clientmail/provider-utils";

/** How the connection is secured. */
export type ImapSecurity = TransportSecurity;

/** Settings of {@link createImapProvider}. */
export interface ImapProviderSettings {
  /** The server's host name (an IDN name is fine) or IP address. Checked by `hostPolicy` (R9). */
  host: string;
  /** Defaults to 993 with `security: "tls"`, else 143. Other ports need `hostPolicy.allowPorts`. */
  port?: number | undefined;
  /**
   * `tls` (the default): TLS from the first byte. `starttls`: upgrade, and fail without sending
   * anything more when the server does not offer it. `none`: cleartext, to a loopback host only
   * unless `allowInsecure` is set.
   */
  security?: ImapSecurity | undefined;
  /**
   * TLS options. TLS 1.2 at least; certificates are verified against the host name, and
   * `rejectUnauthorized: false` needs `allowInsecure: true`.
   */
  tls?: TlsSettings | undefined;
  /**
   * Where connections may go (R9). Default: public addresses on ports 993 and 143, checked after
   * DNS resolution, every address. A loopback test server needs `{ allow: ["127.0.0.1/32"] }`;
   * a server on the host's own network needs its address, range or name here.
   */
  hostPolicy?: HostPolicySettings | undefined;
  /**
   * Allows insecure transport: `security: "none"` to a host that is not loopback, and
   * `tls.rejectUnauthorized: false`. Each connection that uses it logs a warning. Default false.
   */
  allowInsecure?: boolean | undefined;
  /**
   * Opens the sockets, to the addresses `hostPolicy` vetted only. Default: Node's `net`/`tls`.
   * For a host routing mail connections through its own network layer, and for tests.
   */
  socketFactory?: SocketFactory | undefined;
  /** Login name. */
  user: string;
  /** Password (or app password). Exactly one of `password`, `accessToken` and `tokenSource`. */
  password?: string | undefined;
  /** OAuth 2 access token, sent with SASL XOAUTH2. Exactly one of `password`, `accessToken` and `tokenSource`. */
  accessToken?: string | undefined;
  /**
   * OAuth 2 access tokens for SASL XOAUTH2 (Gmail's and Outlook's IMAP), asked for each new
   * connection; when the server refuses one, asked again once with `forceRefresh` (the refresh
   * hook) before the connection fails as `auth_revoked`. `@clientmail/auth` has sources for
   * Google and Microsoft. Exactly one of `password`, `accessToken` and `tokenSource`.
   */
  tokenSource?: TokenSource | undefined;
  /**
   * Folders to sync: special-use names (`\\Inbox`, `\\Sent`, `\\All`, `\\Archive`, ...), used when
   * the server has such a folder and skipped when not, or exact folder paths, which must exist
   * (else calls fail with `not_found`). Default: `["\\Inbox", "\\Sent", "\\All"]`.
   */
  folders?: readonly string[] | undefined;
  /** Envelopes per page of `changes` and batch of `search`. Default 500. */
  pageSize?: number | undefined;
  /**
   * Envelopes per page of a full listing (the first pass, or one after `cursor_expired`): larger
   * pages mean fewer commands and fewer page commits in a backfill. Default: `pageSize` when that
   * is set, else 1000.
   */
  backfillPageSize?: number | undefined;
  /**
   * IDLE is ended and re-issued after this long (RFC 2177 advises at most 29 minutes, because
   * servers may log out a client silent for 30). Default 29 minutes.
   */
  idleRestartMs?: number | undefined;
  /** How often `watch` checks the synced folders other than the IDLE one (STATUS). Default 60 s. */
  pollIntervalMs?: number | undefined;
  /** Connect (TCP + TLS) timeout. Default 30 s. */
  connectionTimeoutMs?: number | undefined;
  /** Socket inactivity timeout. Default 5 minutes. */
  socketTimeoutMs?: number | undefined;
  /**
   * R7: the largest message fetched, in bytes (RFC822.SIZE). A larger one is not downloaded: it
   * is reported `too_large` and the engine quarantines it (R2). Default 50 MiB (52428800);
   * 64 KiB to 2 GiB.
   */
  maxMessageBytes?: number | undefined;
  /**
   * Deadline of one command (R3): a SELECT, a SEARCH, the FETCH of one chunk of messages (at most
   * 32 messages and 8 MiB, or 2 MiB of one larger message), connecting included. A command still running then — a silent server, or one trickling
   * bytes, which an inactivity timeout never catches — closes the connection and fails the call
   * as `transient`; the next call reconnects. Default 2 minutes.
   */
  commandTimeoutMs?: number | undefined;
  /** Receives connection-level events; never message content or credentials. */
  logger?: Logger | undefined;
}

/** Settings with every default applied. */
export interface ResolvedImapSettings {
  host: string;
  port: number;
  security: ImapSecurity;
  tls: TlsSettings;
  hostPolicy: HostPolicy;
  allowInsecure: boolean;
  socketFactory: SocketFactory;
  user: string;
  password: string | undefined;
  accessToken: string | undefined;
  tokenSource: TokenSource | undefined;
  folders: readonly string[];
  pageSize: number;
  backfillPageSize: number;
  idleRestartMs: number;
  pollIntervalMs: number;
  connectionTimeoutMs: number;
  socketTimeoutMs: number;
  commandTimeoutMs: number;
  maxMessageBytes: number;
  logger: Logger | undefined;
}

const DEFAULT_FOLDERS = ["\\Inbox", "\\Sent", "\\All"] as const;
/** RFC 2177's 29 minutes: the longest IDLE a server must tolerate. */
export const IDLE_RESTART_MS = 29 * 60 * 1000;

function positiveInteger(
  issues: ValidationIssue[],
  field: string,
  value: number | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    issues.push({ field, value, expected: "a positive integer" });
    return fallback;
  }
  return value;
}

/** Applies defaults; throws a {@link ValidationError} naming every invalid setting. */
export function resolveSettings(settings: ImapProviderSettings): ResolvedImapSettings {
  const issues: ValidationIssue[] = [];
  if (typeof settings.host !== "string" || parseHost(settings.host) === undefined) {
    issues.push({
      field: "host",
      value: settings.host,
      expected: "the IMAP server's host name or IP address (standard notation)",
    });
  }
  if (typeof settings.user !== "string" || settings.user === "") {
    issues.push({ field: "user", value: settings.user, expected: "the login name" });
  }
  const hasPassword = typeof settings.password === "string" && settings.password !== "";
  const hasToken = typeof settings.accessToken === "string" && settings.accessToken !== "";
  const hasSource = settings.tokenSource !== undefined;
  if (hasSource && typeof settings.tokenSource?.accessToken !== "function") {
    issues.push({ field: "tokenSource", value: "[object]", expected: "a TokenSource { accessToken() }" });
  } else if (Number(hasPassword) + Number(hasToken) + Number(hasSource) !== 1) {
    issues.push({
      field: hasPassword ? (hasToken ? "accessToken" : "tokenSource") : "password",
      value: "[redacted]",
      expected: "exactly one of password, accessToken and tokenSource",
    });
  }
  const security = settings.security ?? "tls";
  if (!["tls", "starttls", "none"].includes(security)) {
    issues.push({ field: "security", value: security, expected: '"tls", "starttls" or "none"' });
  }
  if (["tls", "starttls", "none"].includes(security)) {
    checkTransportSecurity(
      {
        host: settings.host,
        security,
        rejectUnauthorized: settings.tls?.rejectUnauthorized,
        allowInsecure: settings.allowInsecure,
      },
      issues,
    );
  }
  const hostPolicy = resolveHostPolicy(settings.hostPolicy, issues);
  if (settings.socketFactory !== undefined && typeof settings.socketFactory !== "function") {
    issues.push({ field: "socketFactory", value: typeof settings.socketFactory, expected: "a function" });
  }
  const port = positiveInteger(issues, "port", settings.port, security === "tls" ? 993 : 143);
  if (port > 65535) issues.push({ field: "port", value: port, expected: "a TCP port (1-65535)" });
  const folders = settings.folders ?? DEFAULT_FOLDERS;
  if (
    !Array.isArray(folders) ||
    folders.length === 0 ||
    folders.some((f) => typeof f !== "string" || f === "")
  ) {
    issues.push({
      field: "folders",
      value: folders,
      expected: "a non-empty list of folder paths or special-use names",
    });
  }
  const pageSize = positiveInteger(issues, "pageSize", settings.pageSize, 500);
  const resolved: ResolvedImapSettings = {
    host: settings.host,
    port,
    security,
    tls: settings.tls ?? {},
    hostPolicy,
    allowInsecure: settings.allowInsecure === true,
    socketFactory: settings.socketFactory ?? nodeSocketFactory,
    user: settings.user,
    password: hasPassword ? settings.password : undefined,
    accessToken: hasToken ? settings.accessToken : undefined,
    tokenSource: hasSource ? settings.tokenSource : undefined,
    folders,
    pageSize,
    backfillPageSize: positiveInteger(
      issues,
      "backfillPageSize",
      settings.backfillPageSize,
      settings.pageSize === undefined ? 1000 : pageSize,
    ),
    idleRestartMs: positiveInteger(issues, "idleRestartMs", settings.idleRestartMs, IDLE_RESTART_MS),
    pollIntervalMs: positiveInteger(issues, "pollIntervalMs", settings.pollIntervalMs, 60_000),
    connectionTimeoutMs: positiveInteger(issues, "connectionTimeoutMs", settings.connectionTimeoutMs, 30_000),
    socketTimeoutMs: positiveInteger(issues, "socketTimeoutMs", settings.socketTimeoutMs, 5 * 60_000),
    commandTimeoutMs: positiveInteger(issues, "commandTimeoutMs", settings.commandTimeoutMs, 2 * 60_000),
    maxMessageBytes: resolveMaxMessageBytes(issues, "maxMessageBytes", settings.maxMessageBytes),
    logger: settings.logger,
  };
  if (resolved.idleRestartMs > IDLE_RESTART_MS) {
    issues.push({
      field: "idleRestartMs",
      value: resolved.idleRestartMs,
      expected: "at most 29 minutes (1740000)",
    });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return resolved;
}
