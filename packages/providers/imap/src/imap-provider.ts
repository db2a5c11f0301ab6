/**
 * The IMAP implementation of the MailProvider port, on imapflow (protocol) and mailparser (MIME).
 */
import { createHash } from "node:crypto";
import {
  ClientMailError,
  ValidationError,
  normalizeAddress,
  type AttachmentContent,
  type FetchedMessage,
  type ProviderEnvelope,
  type ValidationIssue,
} from "@clientmail/core";
import type {
  CallOptions,
  ChangePage,
  Logger,
  MailProvider,
  ParticipantSearch,
  PushSubscription,
} from "@clientmail/core/ports";
import {
  ImapFlow,
  type FetchMessageObject,
  type FetchQueryObject,
  type ImapFlowOptions,
  type SearchObject,
} from "imapflow";
import { simpleParser } from "mailparser";
import {
  decodeCursor,
  encodeCursor,
  parseProviderId,
  providerIdOf,
  toRanges,
  type CursorState,
  type FolderState,
} from "./cursor.js";
import { translateImapError, type ImapErrorContext } from "./errors.js";
import { ENVELOPE_HEADER_FIELDS, envelopeFromHeaders } from "./headers.js";

/** How the connection is secured. */
export type ImapSecurity = "tls" | "starttls" | "none";

/** Settings of {@link createImapProvider}. */
export interface ImapProviderSettings {
  host: string;
  /** Defaults to 993 with `security: "tls"`, else 143. */
  port?: number | undefined;
  /**
   * `tls` (the default): TLS from the first byte. `starttls`: upgrade, and refuse to continue
   * when the server does not offer it. `none`: cleartext, for loopback test servers only.
   */
  security?: ImapSecurity | undefined;
  /** TLS options. Certificates are verified unless `rejectUnauthorized: false` is set explicitly. */
  tls?:
    | {
        rejectUnauthorized?: boolean | undefined;
        servername?: string | undefined;
        ca?: string | Buffer | undefined;
      }
    | undefined;
  /** Login name. */
  user: string;
  /** Password (or app password). Exactly one of `password` and `accessToken`. */
  password?: string | undefined;
  /** OAuth 2 access token, sent with SASL XOAUTH2. Exactly one of `password` and `accessToken`. */
  accessToken?: string | undefined;
  /**
   * Folders to sync: special-use names (`\\Inbox`, `\\Sent`, `\\All`, `\\Archive`, ...), used when
   * the server has such a folder and skipped when not, or exact folder paths, which must exist
   * (else calls fail with `not_found`). Default: `["\\Inbox", "\\Sent", "\\All"]`.
   */
  folders?: readonly string[] | undefined;
  /** Envelopes per page of `changes` and batch of `search`. Default 500. */
  pageSize?: number | undefined;
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
  /** Receives connection-level events; never message content or credentials. */
  logger?: Logger | undefined;
}

const DEFAULT_FOLDERS = ["\\Inbox", "\\Sent", "\\All"] as const;
const IDLE_RESTART_MS = 29 * 60 * 1000;
/** UIDs per streamed content FETCH; bounds the content held in memory at once. */
const FETCH_CHUNK = 32;
const SEARCH_ADDRESSES_PER_COMMAND = 8;

interface ResolvedSettings {
  host: string;
  port: number;
  security: ImapSecurity;
  tls: NonNullable<ImapProviderSettings["tls"]>;
  user: string;
  password: string | undefined;
  accessToken: string | undefined;
  folders: readonly string[];
  pageSize: number;
  idleRestartMs: number;
  pollIntervalMs: number;
  connectionTimeoutMs: number;
  socketTimeoutMs: number;
  logger: Logger | undefined;
}

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

function resolveSettings(settings: ImapProviderSettings): ResolvedSettings {
  const issues: ValidationIssue[] = [];
  if (typeof settings.host !== "string" || settings.host.trim() === "") {
    issues.push({ field: "host", value: settings.host, expected: "the IMAP server's host name" });
  }
  if (typeof settings.user !== "string" || settings.user === "") {
    issues.push({ field: "user", value: settings.user, expected: "the login name" });
  }
  const hasPassword = typeof settings.password === "string" && settings.password !== "";
  const hasToken = typeof settings.accessToken === "string" && settings.accessToken !== "";
  if (hasPassword === hasToken) {
    issues.push({
      field: hasPassword ? "accessToken" : "password",
      value: "[redacted]",
      expected: "exactly one of password and accessToken",
    });
  }
  const security = settings.security ?? "tls";
  if (!["tls", "starttls", "none"].includes(security)) {
    issues.push({ field: "security", value: security, expected: '"tls", "starttls" or "none"' });
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
  const resolved: ResolvedSettings = {
    host: settings.host,
    port,
    security,
    tls: settings.tls ?? {},
    user: settings.user,
    password: hasPassword ? settings.password : undefined,
    accessToken: hasToken ? settings.accessToken : undefined,
    folders,
    pageSize: positiveInteger(issues, "pageSize", settings.pageSize, 500),
    idleRestartMs: positiveInteger(issues, "idleRestartMs", settings.idleRestartMs, IDLE_RESTART_MS),
    pollIntervalMs: positiveInteger(issues, "pollIntervalMs", settings.pollIntervalMs, 60_000),
    connectionTimeoutMs: positiveInteger(issues, "connectionTimeoutMs", settings.connectionTimeoutMs, 30_000),
    socketTimeoutMs: positiveInteger(issues, "socketTimeoutMs", settings.socketTimeoutMs, 5 * 60_000),
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

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw signal.reason instanceof Error
      ? signal.reason
      : new ClientMailError("transient", "The call was aborted");
  }
}

function uidCompare(a: number, b: number): number {
  return a - b;
}

/** One synced folder as found on the server. */
interface SyncedFolder {
  path: string;
}

/** What one pass over a folder found, before envelopes are fetched. */
interface FolderDiff {
  path: string;
  uidValidity: string;
  highestModseq: string | undefined;
  uidNext: number;
  /** Known UIDs still present. */
  kept: number[];
  removed: number[];
  /** New UIDs, ascending, then known UIDs whose flags changed. */
  toList: number[];
  exists: number;
}

interface PendingPage {
  added: ProviderEnvelope[];
  removed: string[];
  cursor: string;
}

/**
 * Creates the IMAP provider for one mailbox.
 *
 * - **Folders**: the special-use folders Inbox, Sent and All Mail where present (see
 *   {@link ImapProviderSettings.folders}); one cursor per folder, serialised into one opaque string.
 * - **Changes**: new messages are listed by UID; deletions by comparing the UIDs the cursor holds
 *   with `UID SEARCH ALL` (so a server without CONDSTORE syncs deletions too); with CONDSTORE a
 *   folder whose HIGHESTMODSEQ did not move is skipped without a search, and messages whose flags
 *   changed are listed again. Without CONDSTORE, flag changes are not reported.
 * - **UIDVALIDITY change**: `changes` throws `cursor_expired` (every UID of that folder is void);
 *   the caller runs a full listing with no cursor. Ids are `folder:uidvalidity:uid`, so ids from
 *   before the change never collide with new ones.
 * - **Connections**: one for commands (opened lazily, reopened after a drop) and one per `watch`
 *   for IDLE. Failures are thrown as ClientMailErrors (see {@link translateImapError}).
 *
 * Throws a ValidationError naming each invalid setting.
 */
export function createImapProvider(settings: ImapProviderSettings): MailProvider {
  const config = resolveSettings(settings);
  return new ImapProvider(config);
}

class ImapProvider implements MailProvider {
  readonly kind = "imap" as const;
  private client: ImapFlow | undefined;
  private connecting: Promise<ImapFlow> | undefined;
  private readonly watchers = new Set<PushSubscription>();
  private closed = false;

  constructor(private readonly config: ResolvedSettings) {}

  private clientOptions(): ImapFlowOptions {
    const { config } = this;
    return {
      host: config.host,
      port: config.port,
      secure: config.security === "tls",
      doSTARTTLS: config.security === "starttls" ? true : config.security === "none" ? false : undefined,
      tls: {
        rejectUnauthorized: config.tls.rejectUnauthorized ?? true,
        ...(config.tls.servername === undefined ? {} : { servername: config.tls.servername }),
        ...(config.tls.ca === undefined ? {} : { ca: config.tls.ca }),
      },
      auth:
        config.accessToken === undefined
          ? { user: config.user, pass: config.password }
          : { user: config.user, accessToken: config.accessToken },
      logger: false,
      disableAutoIdle: true,
      connectionTimeout: config.connectionTimeoutMs,
      greetingTimeout: Math.min(config.connectionTimeoutMs, 16_000),
      socketTimeout: config.socketTimeoutMs,
      clientInfo: { name: "clientmail" },
    };
  }

  /** Opens a new authenticated connection; translates failures. */
  private async open(
    operation: ImapErrorContext["operation"],
    extra: Partial<ImapFlowOptions> = {},
  ): Promise<ImapFlow> {
    const client = new ImapFlow({ ...this.clientOptions(), ...extra });
    // An 'error' event without a listener would crash the host process.
    client.on("error", (error: Error) => {
      this.config.logger?.warn("imap connection error", {
        code: (error as { code?: unknown }).code,
        operation,
      });
    });
    try {
      await client.connect();
    } catch (error) {
      client.close();
      throw translateImapError(error, { operation: "connect" });
    }
    return client;
  }

  private async commandClient(): Promise<ImapFlow> {
    if (this.closed) throw new ClientMailError("internal", "The IMAP provider was closed");
    if (this.client?.usable) return this.client;
    this.client = undefined;
    this.connecting ??= this.open("connect").finally(() => {
      this.connecting = undefined;
    });
    const client = await this.connecting;
    if (this.closed) {
      client.close();
      throw new ClientMailError("internal", "The IMAP provider was closed");
    }
    this.client = client;
    return client;
  }

  /** Translates a failure; a command that failed because the connection went away is `transient`. */
  private failure(error: unknown, context: ImapErrorContext, client: ImapFlow | undefined): ClientMailError {
    const translated = translateImapError(error, context);
    if (translated.code === "internal" && client !== undefined && !client.usable) {
      return new ClientMailError("transient", "The IMAP connection was lost during the command", {
        cause: error,
        details: { ...translated.details },
      });
    }
    return translated;
  }

  /** Runs `work` with `path` selected (read-only) on the command connection. */
  private async withFolder<T>(
    path: string,
    operation: ImapErrorContext["operation"],
    work: (client: ImapFlow) => Promise<T>,
    refresh = false,
  ): Promise<T> {
    const client = await this.commandClient();
    let lock: { release(): void } | undefined;
    try {
      const alreadyOpen = client.mailbox !== false && client.mailbox.path === path;
      lock = await client.getMailboxLock(path, { readOnly: true });
      // A mailbox left selected only learns of changes when the server chooses to say; SELECT
      // again for fresh UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ.
      if (refresh && alreadyOpen) await client.mailboxOpen(path, { readOnly: true });
      return await work(client);
    } catch (error) {
      throw this.failure(error, { operation, folder: path }, client);
    } finally {
      lock?.release();
    }
  }

  /** The synced folders that exist on the server, in settings order, without duplicates. */
  private async syncedFolders(operation: ImapErrorContext["operation"]): Promise<SyncedFolder[]> {
    const client = await this.commandClient();
    let listing;
    try {
      listing = await client.list();
    } catch (error) {
      throw this.failure(error, { operation }, client);
    }
    const result: SyncedFolder[] = [];
    const seen = new Set<string>();
    for (const wanted of this.config.folders) {
      let path: string | undefined;
      if (wanted.startsWith("\\")) {
        const use = wanted.toLowerCase();
        const match =
          use === "\\inbox"
            ? listing.find((entry) => entry.path.toUpperCase() === "INBOX")
            : listing.find((entry) => entry.specialUse?.toLowerCase() === use);
        path = match?.path;
      } else {
        const match = listing.find(
          (entry) =>
            entry.path === wanted ||
            (wanted.toUpperCase() === "INBOX" && entry.path.toUpperCase() === "INBOX"),
        );
        if (!match) {
          throw new ClientMailError("not_found", `IMAP folder ${JSON.stringify(wanted)} was not found`, {
            details: { entity: "folder", id: wanted, provider: "imap", operation },
          });
        }
        path = match.path;
      }
      if (path !== undefined && !seen.has(path)) {
        seen.add(path);
        result.push({ path });
      }
    }
    return result;
  }

  private envelopeQuery(client: ImapFlow): FetchQueryObject {
    const threads = client.capabilities.has("X-GM-EXT-1") || client.capabilities.has("OBJECTID");
    return {
      uid: true,
      flags: true,
      size: true,
      internalDate: true,
      headers: [...ENVELOPE_HEADER_FIELDS],
      ...(threads ? { threadId: true } : {}),
    };
  }

  private toEnvelope(path: string, uidValidity: string, message: FetchMessageObject): ProviderEnvelope {
    return envelopeFromHeaders({
      providerId: providerIdOf(path, uidValidity, message.uid),
      folder: path,
      headers: message.headers,
      size: message.size,
      flags: message.flags,
      internalDate: message.internalDate,
      threadId: message.threadId,
    });
  }

  /** Fetches envelopes for `uids` of the selected folder, ascending by UID. Vanished UIDs are absent. */
  private async fetchEnvelopes(
    client: ImapFlow,
    path: string,
    uidValidity: string,
    uids: readonly number[],
  ): Promise<ProviderEnvelope[]> {
    if (uids.length === 0) return [];
    const messages = await client.fetchAll(toRanges([...uids].sort(uidCompare)), this.envelopeQuery(client), {
      uid: true,
    });
    const wanted = new Set(uids);
    return messages
      .filter((message) => wanted.has(message.uid))
      .sort((a, b) => a.uid - b.uid)
      .map((message) => this.toEnvelope(path, uidValidity, message));
  }

  /** Compares one folder with its cursor state. Returns undefined when nothing changed. */
  private async diffFolder(path: string, previous: FolderState | undefined): Promise<FolderDiff | undefined> {
    return await this.withFolder(
      path,
      "changes",
      async (client) => {
        const mailbox = client.mailbox;
        if (!mailbox) throw new ClientMailError("transient", "The IMAP folder was closed during the command");
        const uidValidity = String(mailbox.uidValidity);
        if (previous && previous.uidValidity !== uidValidity) {
          throw new ClientMailError(
            "cursor_expired",
            `The UIDVALIDITY of IMAP folder ${JSON.stringify(path)} changed`,
            {
              details: { provider: "imap", folder: path },
            },
          );
        }
        const condstore =
          client.enabled.has("CONDSTORE") && mailbox.highestModseq !== undefined && mailbox.noModseq !== true;
        const highestModseq = condstore ? String(mailbox.highestModseq) : undefined;
        if (previous) {
          if (condstore && previous.highestModseq !== undefined && previous.highestModseq === highestModseq)
            return undefined;
          if (!condstore && previous.uidNext === mailbox.uidNext && previous.uids.length === mailbox.exists)
            return undefined;
        }
        const current = mailbox.exists === 0 ? [] : (await client.search({ all: true }, { uid: true })) || [];
        current.sort(uidCompare);
        const known = new Set(previous?.uids ?? []);
        const present = new Set(current);
        const removed = (previous?.uids ?? []).filter((uid) => !present.has(uid));
        const kept = (previous?.uids ?? []).filter((uid) => present.has(uid));
        const added = current.filter((uid) => !known.has(uid));
        let changed: number[] = [];
        if (condstore && previous?.highestModseq !== undefined && kept.length > 0) {
          const flagged = await client.fetchAll(
            toRanges(kept),
            { uid: true, flags: true },
            { uid: true, changedSince: BigInt(previous.highestModseq) },
          );
          changed = flagged.map((message) => message.uid).filter((uid) => known.has(uid) && present.has(uid));
          changed.sort(uidCompare);
        }
        return {
          path,
          uidValidity,
          highestModseq,
          uidNext: mailbox.uidNext,
          kept,
          removed,
          toList: [...added, ...changed],
          exists: mailbox.exists,
        };
      },
      true,
    );
  }

  private async estimateTotal(folders: readonly SyncedFolder[]): Promise<number | undefined> {
    const client = await this.commandClient();
    let total = 0;
    for (const folder of folders) {
      try {
        const status = await client.status(folder.path, { messages: true });
        total += status ? (status.messages ?? 0) : 0;
      } catch {
        return undefined;
      }
    }
    return total;
  }

  async *changes(cursor: string | undefined, options: CallOptions = {}): AsyncIterable<ChangePage> {
    const { signal } = options;
    let state: CursorState;
    try {
      state = cursor === undefined ? new Map() : decodeCursor(cursor);
    } catch (error) {
      // The port's contract: a cursor this provider cannot read is one it no longer accepts.
      throw new ClientMailError("cursor_expired", "The IMAP cursor cannot be read", {
        cause: error,
        details: { provider: "imap" },
      });
    }
    checkAborted(signal);
    const folders = await this.syncedFolders("changes");
    const estimatedTotal = cursor === undefined ? await this.estimateTotal(folders) : undefined;
    let pending: PendingPage | undefined;
    const emit = (page: PendingPage, done: boolean): ChangePage => ({ ...page, done, estimatedTotal });

    // Folders no longer synced (removed from settings or deleted on the server): their copies are gone.
    const syncedPaths = new Set(folders.map((folder) => folder.path));
    for (const [path, folder] of [...state]) {
      if (syncedPaths.has(path)) continue;
      state.delete(path);
      const removed = folder.uids.map((uid) => providerIdOf(path, folder.uidValidity, uid));
      if (pending) yield emit(pending, false);
      pending = { added: [], removed, cursor: encodeCursor(state) };
    }

    for (const folder of folders) {
      checkAborted(signal);
      const previous = state.get(folder.path);
      const diff = await this.diffFolder(folder.path, previous);
      if (!diff) continue;
      const known = new Set(diff.kept);
      const commit = (complete: boolean) => {
        state.set(folder.path, {
          uidValidity: diff.uidValidity,
          uids: [...known].sort(uidCompare),
          // Only a complete pass may record the modseq/uidNext that let the next pass skip the folder.
          highestModseq: complete ? diff.highestModseq : previous?.highestModseq,
          uidNext: complete ? diff.uidNext : previous?.uidNext,
        });
        return encodeCursor(state);
      };
      let removed = diff.removed.map((uid) => providerIdOf(folder.path, diff.uidValidity, uid));
      if (diff.toList.length === 0 && removed.length === 0) {
        // Nothing to report: fold the folder's new state into the page waiting to be yielded.
        const cursor = commit(true);
        if (pending) pending.cursor = cursor;
        else pending = { added: [], removed: [], cursor };
        continue;
      }
      if (diff.toList.length === 0) {
        if (pending) yield emit(pending, false);
        pending = { added: [], removed, cursor: commit(true) };
        continue;
      }
      for (let start = 0; start < diff.toList.length; start += this.config.pageSize) {
        checkAborted(signal);
        const uids = diff.toList.slice(start, start + this.config.pageSize);
        const added = await this.withFolder(folder.path, "changes", async (client) => {
          const mailbox = client.mailbox;
          if (mailbox && String(mailbox.uidValidity) !== diff.uidValidity) {
            throw new ClientMailError(
              "cursor_expired",
              `The UIDVALIDITY of IMAP folder ${JSON.stringify(folder.path)} changed`,
              {
                details: { provider: "imap", folder: folder.path },
              },
            );
          }
          return await this.fetchEnvelopes(client, folder.path, diff.uidValidity, uids);
        });
        for (const envelope of added) known.add(parseProviderId(envelope.providerId)!.uid);
        const last = start + this.config.pageSize >= diff.toList.length;
        if (pending) yield emit(pending, false);
        pending = { added, removed, cursor: commit(last) };
        removed = [];
      }
    }
    yield emit(pending ?? { added: [], removed: [], cursor: encodeCursor(state) }, true);
  }

  async *search(query: ParticipantSearch, options: CallOptions = {}): AsyncIterable<ProviderEnvelope[]> {
    const issues: ValidationIssue[] = [];
    if (!Array.isArray(query.addresses) || query.addresses.length === 0) {
      issues.push({ field: "addresses", value: query.addresses, expected: "at least one email address" });
    }
    const addresses: string[] = [];
    for (const [index, address] of (query.addresses ?? []).entries()) {
      try {
        addresses.push(normalizeAddress(address, `addresses.${index}`));
      } catch (error) {
        if (error instanceof ValidationError) issues.push(...error.issues);
        else throw error;
      }
    }
    if (issues.length > 0) throw new ValidationError(issues);
    const wanted = new Set(addresses);
    // Nested ORs grow with every address; a few addresses per SEARCH keeps commands small.
    const searches: SearchObject[] = [];
    for (let start = 0; start < addresses.length; start += SEARCH_ADDRESSES_PER_COMMAND) {
      const criteria = addresses
        .slice(start, start + SEARCH_ADDRESSES_PER_COMMAND)
        .flatMap((address): SearchObject[] => [
          { from: address },
          { to: address },
          { cc: address },
          { bcc: address },
          { header: { sender: address } },
          { header: { "reply-to": address } },
        ]);
      const search: SearchObject = { or: criteria };
      if (query.since) search.since = query.since;
      if (query.before) search.before = query.before;
      searches.push(search);
    }

    for (const folder of await this.syncedFolders("search")) {
      checkAborted(options.signal);
      const { uids, uidValidity } = await this.withFolder(
        folder.path,
        "search",
        async (client) => {
          const found = new Set<number>();
          for (const search of searches)
            for (const uid of (await client.search(search, { uid: true })) || []) found.add(uid);
          return {
            uids: [...found].sort(uidCompare),
            uidValidity: String(client.mailbox ? client.mailbox.uidValidity : 0),
          };
        },
        true,
      );
      for (let start = 0; start < uids.length; start += this.config.pageSize) {
        checkAborted(options.signal);
        const batch = uids.slice(start, start + this.config.pageSize);
        const envelopes = await this.withFolder(folder.path, "search", async (client) =>
          this.fetchEnvelopes(client, folder.path, uidValidity, batch),
        );
        // IMAP SEARCH matches substrings ("ann@x.com" finds "joann@x.com"): keep exact participants only.
        const matching = envelopes.filter((envelope) =>
          [envelope.from, envelope.sender, envelope.replyTo, envelope.to, envelope.cc, envelope.bcc].some(
            (list) => list.some((entry) => wanted.has(entry.address)),
          ),
        );
        if (matching.length > 0) yield matching;
      }
    }
  }

  async *fetch(providerIds: readonly string[], options: CallOptions = {}): AsyncIterable<FetchedMessage> {
    const byFolder = new Map<string, { uidValidity: string; uids: Set<number> }[]>();
    for (const id of providerIds) {
      const parsed = parseProviderId(id);
      if (!parsed) continue;
      const groups = byFolder.get(parsed.folder) ?? [];
      let group = groups.find((g) => g.uidValidity === parsed.uidValidity);
      if (!group) {
        group = { uidValidity: parsed.uidValidity, uids: new Set() };
        groups.push(group);
      }
      group.uids.add(parsed.uid);
      byFolder.set(parsed.folder, groups);
    }
    for (const [path, groups] of byFolder) {
      for (const group of groups) {
        const uids = [...group.uids].sort(uidCompare);
        // One streamed FETCH per chunk: each message is parsed as soon as it has arrived, while the
        // rest are still on the wire. Chunks bound how much content is held at once.
        for (let start = 0; start < uids.length; start += FETCH_CHUNK) {
          checkAborted(options.signal);
          const chunk = uids.slice(start, start + FETCH_CHUNK);
          let parsed: FetchedMessage[];
          try {
            parsed = await this.withFolder(
              path,
              "fetch",
              async (client) => {
                if (!client.mailbox || String(client.mailbox.uidValidity) !== group.uidValidity) return [];
                // The envelope comes from the source's own header block: asking for the header
                // fields as well would make the server send, and imapflow tokenise, them twice.
                const threads = client.capabilities.has("X-GM-EXT-1") || client.capabilities.has("OBJECTID");
                const query = {
                  uid: true,
                  flags: true,
                  internalDate: true,
                  source: true,
                  ...(threads ? { threadId: true } : {}),
                };
                const out: FetchedMessage[] = [];
                for await (const message of client.fetch(toRanges(chunk), query, { uid: true })) {
                  if (!group.uids.has(message.uid)) continue;
                  out.push(await this.parseMessage(path, group.uidValidity, message));
                }
                return out;
              },
              // No fresh SELECT: UIDVALIDITY cannot change within a session (RFC 3501 §2.3.1.1), and
              // a re-SELECT per call costs a round trip and a mailbox scan on the server.
              false,
            );
          } catch (error) {
            // A deleted folder means its messages no longer exist: skipped, as for deleted messages.
            if (ClientMailError.hasCode(error, "not_found")) break;
            throw error;
          }
          for (const message of parsed) yield message;
        }
      }
    }
  }

  private async parseMessage(
    path: string,
    uidValidity: string,
    message: FetchMessageObject,
  ): Promise<FetchedMessage> {
    const source = message.source ?? Buffer.alloc(0);
    const headerEnd = source.indexOf("\r\n\r\n");
    const envelope = this.toEnvelope(path, uidValidity, {
      ...message,
      size: source.length,
      headers: headerEnd >= 0 ? source.subarray(0, headerEnd + 4) : source,
    });
    let parsed: Awaited<ReturnType<typeof simpleParser>>;
    try {
      parsed = await simpleParser(source, {
        skipHtmlToText: true,
        skipTextToHtml: true,
        skipImageLinks: true,
      });
    } catch (error) {
      throw new ClientMailError("internal", "The message could not be parsed", {
        cause: error,
        details: { providerId: envelope.providerId },
      });
    }
    const attachments: AttachmentContent[] = parsed.attachments.map((attachment, index) => {
      const content = attachment.content;
      return {
        filename: attachment.filename ?? `attachment-${index + 1}`,
        contentType: attachment.contentType,
        size: content.length,
        contentHash: createHash("sha256").update(content).digest("hex"),
        content: async function* () {
          for (let offset = 0; offset < content.length; offset += 64 * 1024) {
            yield new Uint8Array(
              content.buffer,
              content.byteOffset + offset,
              Math.min(64 * 1024, content.length - offset),
            );
          }
        },
      };
    });
    return {
      envelope,
      text: parsed.text,
      html: typeof parsed.html === "string" ? parsed.html : undefined,
      attachments,
    };
  }

  async watch(onChange: () => void, options: CallOptions = {}): Promise<PushSubscription> {
    checkAborted(options.signal);
    const folders = await this.syncedFolders("watch");
    const idleFolder = folders[0];
    if (!idleFolder)
      throw new ClientMailError("not_found", "None of the synced IMAP folders exists", {
        details: { provider: "imap" },
      });
    const watcher = new FolderWatcher(
      this,
      idleFolder.path,
      folders.slice(1).map((f) => f.path),
      onChange,
      this.config,
    );
    await watcher.start();
    const subscription: PushSubscription = {
      stop: async () => {
        this.watchers.delete(subscription);
        await watcher.stop();
      },
    };
    this.watchers.add(subscription);
    options.signal?.addEventListener("abort", () => void subscription.stop(), { once: true });
    return subscription;
  }

  /** Opens a dedicated connection for IDLE (used by the watcher). */
  async openIdleConnection(): Promise<ImapFlow> {
    return await this.open("watch", { disableAutoIdle: true, maxIdleTime: this.config.idleRestartMs });
  }

  /** STATUS of a folder on the command connection, for polling folders that are not IDLEd. */
  async folderStatus(path: string): Promise<string | undefined> {
    const client = await this.commandClient();
    try {
      const status = await client.status(path, {
        messages: true,
        uidNext: true,
        uidValidity: true,
        highestModseq: true,
      });
      if (!status) return undefined;
      return `${String(status.uidValidity)}/${status.uidNext}/${status.messages}/${String(status.highestModseq)}`;
    } catch (error) {
      throw this.failure(error, { operation: "watch", folder: path }, client);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watchers].map((watcher) => watcher.stop()));
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    if (client?.usable) {
      try {
        await client.logout();
      } catch {
        client.close();
      }
    } else {
      client?.close();
    }
  }
}

/**
 * IDLE on one folder (Inbox) over its own connection, STATUS polling for the others. Reconnects
 * with backoff after a drop or server restart, and reports a change after each reconnect, since
 * anything may have happened meanwhile.
 */
class FolderWatcher {
  private client: ImapFlow | undefined;
  private stopped = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly statuses = new Map<string, string | undefined>();
  private failures = 0;

  constructor(
    private readonly provider: ImapProvider,
    private readonly idlePath: string,
    private readonly pollPaths: readonly string[],
    private readonly onChange: () => void,
    private readonly config: ResolvedSettings,
  ) {}

  private notify(): void {
    if (this.stopped) return;
    try {
      this.onChange();
    } catch (error) {
      this.config.logger?.warn("watch callback threw", {
        error: error instanceof Error ? error.name : typeof error,
      });
    }
  }

  async start(): Promise<void> {
    await this.connect();
    for (const path of this.pollPaths)
      this.statuses.set(path, await this.provider.folderStatus(path).catch(() => undefined));
    if (this.pollPaths.length > 0) {
      this.pollTimer = setInterval(() => void this.poll(), this.config.pollIntervalMs);
      this.pollTimer.unref();
    }
  }

  private async poll(): Promise<void> {
    for (const path of this.pollPaths) {
      if (this.stopped) return;
      try {
        const status = await this.provider.folderStatus(path);
        if (status !== this.statuses.get(path)) {
          this.statuses.set(path, status);
          this.notify();
        }
      } catch {
        // The next poll retries; the IDLE connection reports outages through its reconnects.
      }
    }
  }

  private async connect(): Promise<void> {
    const client = await this.provider.openIdleConnection();
    if (this.stopped) {
      client.close();
      return;
    }
    try {
      await client.mailboxOpen(this.idlePath, { readOnly: true });
    } catch (error) {
      client.close();
      throw translateImapError(error, { operation: "watch", folder: this.idlePath });
    }
    this.client = client;
    client.on("exists", () => this.notify());
    client.on("expunge", () => this.notify());
    client.on("flags", () => this.notify());
    client.on("mailboxOpen", () => this.notify());
    client.on("close", () => {
      if (this.client === client) this.client = undefined;
      this.scheduleReconnect();
    });
    this.failures = 0;
    void this.idleLoop(client);
  }

  /** Keeps the connection in IDLE; imapflow ends and re-issues it every `idleRestartMs` (the 29-minute rule). */
  private async idleLoop(client: ImapFlow): Promise<void> {
    while (!this.stopped && client.usable) {
      try {
        await client.idle();
      } catch {
        return;
      }
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = Math.min(30_000, 500 * 2 ** this.failures) * (0.75 + Math.random() * 0.5);
    this.failures++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect().then(
        () => this.notify(),
        () => this.scheduleReconnect(),
      );
    }, delay);
    this.reconnectTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    try {
      await client.logout();
    } catch {
      client.close();
    }
  }
}
