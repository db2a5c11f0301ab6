/**
 * The IMAP transport: the command connection (opened lazily, reopened after a drop), dedicated
 * connections for IDLE, and the per-command deadline (R3). imapflow's `socketTimeout` only
 * catches a silent socket; a server that trickles a byte now and then keeps a command running
 * forever, so every command also runs against a wall-clock deadline that closes the connection.
 *
 * Every connection is vetted first (R9): the host policy resolves the host and checks every
 * address, and imapflow gets a `transport` (its socket hook) that dials the vetted address with
 * the host name as TLS server name. imapflow never resolves the name itself, so an answer that
 * changes between the check and the connection is never used.
 */
import type { Socket } from "node:net";
import { ClientMailError } from "@clientmail/core";
import {
  checkConnectionSecurity,
  openVettedSocket,
  providerClosedError,
  tlsOptionsFor,
  upgradeVettedSocket,
  withDeadline,
  type VettedDestination,
} from "@clientmail/provider-utils";
import { ImapFlow, type ImapFlowOptions, type ImapTransport } from "imapflow";
import { translateConnectError, translateImapError, type ImapErrorContext } from "./errors.js";
import { ListedSizes } from "./listed-sizes.js";
import type { ResolvedImapSettings } from "./settings.js";

/** What one command is part of, for deadlines and error details. */
export interface CommandScope {
  operation: ImapErrorContext["operation"];
  folder?: string | undefined;
  signal?: AbortSignal | undefined;
}

interface ConnectAttempt {
  promise: Promise<ImapFlow>;
  abandoned: boolean;
}

/** The connections of one provider. */
/** The most a polite LOGOUT may take before the socket is dropped. */
const closeTimeoutMs = 5_000;

/** `promise`'s value, or undefined when it has not settled within `ms`. */
async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

export class ImapConnection {
  private client: ImapFlow | undefined;
  private connecting: ConnectAttempt | undefined;
  private closed = false;
  /**
   * Sizes the listing learned, for the fetch of the same messages (see {@link ListedSizes}): four
   * pages' worth, as the engine lists one page ahead of the one it fetches.
   */
  readonly listedSizes: ListedSizes;
  /** Connections opened by {@link sibling} and not closed yet: closed with this one. */
  private readonly siblings = new Set<ImapConnection>();
  private onClose: (() => void) | undefined;

  constructor(
    readonly config: ResolvedImapSettings,
    listedSizes?: ListedSizes,
  ) {
    this.listedSizes = listedSizes ?? new ListedSizes(4 * Math.max(config.pageSize, config.backfillPageSize));
  }

  /**
   * A second command connection to the same mailbox (same settings, same listed sizes), opened
   * lazily and closed with this one at the latest: a full listing runs on it, so the server lists
   * the next page while this connection fetches the content of the page before (the two would
   * otherwise queue behind one another, see `listChanges`).
   */
  sibling(): ImapConnection {
    if (this.closed) throw providerClosedError("imap");
    const sibling = new ImapConnection(this.config, this.listedSizes);
    this.siblings.add(sibling);
    sibling.onClose = () => this.siblings.delete(sibling);
    return sibling;
  }

  /** A transport that dials `destination` (a vetted address) and nothing else. */
  private transport(destination: VettedDestination): ImapTransport {
    const tls = tlsOptionsFor(destination, this.config.tls);
    const factory = this.config.socketFactory;
    return {
      connect: (options, onConnect) =>
        openVettedSocket(factory, destination, options.secure ? tls : undefined, onConnect),
      upgrade: (socket, _options, onSecure) =>
        upgradeVettedSocket(socket as unknown as Socket, destination, tls, onSecure),
    };
  }

  private clientOptions(destination: VettedDestination, accessToken: string | undefined): ImapFlowOptions {
    const { config } = this;
    return {
      host: destination.host,
      port: destination.port,
      secure: config.security === "tls",
      // Required STARTTLS: imapflow fails the connection when the server does not offer it.
      doSTARTTLS: config.security === "starttls" ? true : config.security === "none" ? false : undefined,
      transport: this.transport(destination),
      auth:
        accessToken === undefined
          ? { user: config.user, pass: config.password }
          : { user: config.user, accessToken },
      logger: false,
      disableAutoIdle: true,
      connectionTimeout: config.connectionTimeoutMs,
      greetingTimeout: Math.min(config.connectionTimeoutMs, 16_000),
      socketTimeout: config.socketTimeoutMs,
      clientInfo: { name: "clientmail" },
    };
  }

  /**
   * Vets the destination (R9): the host policy, then the transport's security. Rejects with a
   * ConnectionError (`host_refused`, `dns_failed`) before any connection is attempted.
   */
  private async vet(): Promise<VettedDestination> {
    const { config } = this;
    const destination = await config.hostPolicy.vet(
      { protocol: "imap", host: config.host, port: config.port, provider: "imap" },
      { timeoutMs: config.connectionTimeoutMs },
    );
    checkConnectionSecurity(
      {
        host: config.host,
        security: config.security,
        rejectUnauthorized: config.tls.rejectUnauthorized,
        allowInsecure: config.allowInsecure,
      },
      destination,
      { provider: "imap", logger: config.logger },
    );
    return destination;
  }

  /**
   * Opens a new authenticated connection to a vetted address; translates failures. With a token
   * source, a refused access token is replaced once (`forceRefresh`) before the connection fails
   * as `auth_revoked`.
   */
  async open(
    operation: ImapErrorContext["operation"],
    extra: Partial<ImapFlowOptions> = {},
  ): Promise<ImapFlow> {
    const source = this.config.tokenSource;
    if (source === undefined) return this.openWith(operation, extra, this.config.accessToken);
    const token = await source.accessToken();
    try {
      return await this.openWith(operation, extra, token.token);
    } catch (error) {
      if (!ClientMailError.isInstance(error) || error.code !== "auth_revoked") throw error;
      const fresh = await source.accessToken({ forceRefresh: true });
      return this.openWith(operation, extra, fresh.token);
    }
  }

  private async openWith(
    operation: ImapErrorContext["operation"],
    extra: Partial<ImapFlowOptions>,
    accessToken: string | undefined,
  ): Promise<ImapFlow> {
    if (this.closed) throw providerClosedError("imap");
    const destination = await this.vet();
    if (this.closed) throw providerClosedError("imap");
    const client = new ImapFlow({ ...this.clientOptions(destination, accessToken), ...extra });
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
      throw translateConnectError(error, { operation, secure: this.config.security === "tls" });
    }
    return client;
  }

  private async commandClient(): Promise<ImapFlow> {
    if (this.closed) throw providerClosedError("imap");
    if (this.client?.usable) return this.client;
    this.client = undefined;
    if (!this.connecting) {
      const attempt: ConnectAttempt = {
        abandoned: false,
        promise: this.open("connect").then((client) => {
          if (attempt.abandoned || this.closed) {
            client.close();
            throw this.closed
              ? providerClosedError("imap")
              : new ClientMailError("transient", "The IMAP connection attempt was abandoned");
          }
          this.client = client;
          return client;
        }),
      };
      this.connecting = attempt;
      void attempt.promise
        .finally(() => {
          if (this.connecting === attempt) this.connecting = undefined;
        })
        .catch(() => undefined);
    }
    return await this.connecting.promise;
  }

  /**
   * Starts opening the command connection, when it is not open, without waiting for it: a full
   * listing (on a {@link sibling}) calls this, as the content fetch that follows it will need the
   * connection, and logging in while the first page is listed takes that round trip off the
   * backfill's start. A failure here is dropped; the first command opens the connection again
   * and reports its own failure.
   */
  connectAhead(): void {
    // commandClient keeps an open connection and joins an attempt under way.
    if (!this.closed) void this.commandClient().catch(() => undefined);
  }

  /**
   * Drops the command connection without a goodbye: after a deadline or an abort its state (a
   * half-read literal, a command the server may still answer) is unknown. A connection attempt
   * still under way is abandoned too. The next command reconnects.
   */
  private discard(client: ImapFlow | undefined): void {
    if (client === undefined) {
      if (this.connecting) this.connecting.abandoned = true;
      this.connecting = undefined;
      return;
    }
    if (this.client === client) this.client = undefined;
    client.close();
  }

  /** Translates a failure; a command that failed because the connection went away is `transient`. */
  failure(error: unknown, context: ImapErrorContext, client: ImapFlow | undefined): ClientMailError {
    const translated = translateImapError(error, context);
    if (translated.code === "internal" && client !== undefined && !client.usable) {
      return new ClientMailError("transient", "The IMAP connection was lost during the command", {
        cause: error,
        details: { ...translated.details },
      });
    }
    return translated;
  }

  /**
   * Runs `work` on the command connection within the command deadline. At the deadline, or when
   * `scope.signal` aborts, the connection is closed and the call rejects at once (`transient`, or
   * the signal's reason). Failures of `work` are translated (see {@link translateImapError}).
   */
  async command<T>(scope: CommandScope, work: (client: ImapFlow) => Promise<T>): Promise<T> {
    if (this.closed) throw providerClosedError("imap");
    let client: ImapFlow | undefined;
    return await withDeadline(
      {
        provider: "imap",
        operation: scope.operation,
        timeoutMs: this.config.commandTimeoutMs,
        signal: scope.signal,
        onAbort: (reason) => {
          this.config.logger?.warn("imap command abandoned; connection closed", {
            operation: scope.operation,
            reason: reason.details.reason ?? "aborted",
          });
          this.discard(client);
        },
      },
      async () => {
        client = await this.commandClient();
        try {
          return await work(client);
        } catch (error) {
          throw this.failure(error, { operation: scope.operation, folder: scope.folder }, client);
        }
      },
    );
  }

  /**
   * Runs `work` with `path` selected (read-only) on the command connection, as one command (see
   * {@link command}). `refresh` SELECTs again when the folder is already selected, for fresh
   * UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ: a folder left selected only learns of changes when
   * the server chooses to say.
   */
  async inFolder<T>(
    path: string,
    scope: Omit<CommandScope, "folder">,
    work: (client: ImapFlow) => Promise<T>,
    refresh = false,
  ): Promise<T> {
    return await this.command({ ...scope, folder: path }, async (client) => {
      const alreadyOpen = client.mailbox !== false && client.mailbox.path === path;
      const lock = await client.getMailboxLock(path, { readOnly: true });
      try {
        if (refresh && alreadyOpen) await client.mailboxOpen(path, { readOnly: true });
        return await work(client);
      } finally {
        lock.release();
      }
    });
  }

  /** Logs out of the command connection (and of its siblings). Idempotent; later calls fail as closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose?.();
    await Promise.all([...this.siblings].map((sibling) => sibling.close()));
    const pending = this.connecting;
    this.connecting = undefined;
    // R3: closing has a deadline too. A half-open or silent server never answers LOGOUT (nor
    // finishes a connect in progress); past the deadline the socket is simply dropped.
    const timeoutMs = Math.min(this.config.commandTimeoutMs, closeTimeoutMs);
    const client =
      this.client ??
      (pending
        ? await settleWithin(
            pending.promise.catch(() => undefined),
            timeoutMs,
          )
        : undefined);
    this.client = undefined;
    if (!client && pending) void pending.promise.then((late) => late?.close()).catch(() => undefined);
    if (client?.usable) {
      const loggedOut = await settleWithin(
        client.logout().then(
          () => true,
          () => false,
        ),
        timeoutMs,
      );
      if (loggedOut !== true) client.close();
    } else {
      client?.close();
    }
  }
}
