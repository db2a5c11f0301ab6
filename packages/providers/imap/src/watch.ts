/**
 * `watch`: IDLE on one folder (the first synced one, usually Inbox) over its own connection, and
 * STATUS polling of the others on the command connection. Reconnects with backoff after a drop or
 * a server restart, and reports a change after each reconnect, since anything may have happened
 * meanwhile.
 */
import { ClientMailError } from "@clientmail/core";
import type { CallOptions, PushSubscription } from "@clientmail/core/ports";
import { backoffDelay, throwIfAborted, withDeadline } from "@clientmail/provider-utils";
import type { ImapFlow } from "imapflow";
import type { ImapConnection } from "./connection.js";
import { translateImapError } from "./errors.js";
import { syncedFolders } from "./folders.js";

/** Reconnect backoff of the IDLE connection: full jitter from 500 ms, capped at 30 s. */
const reconnectPolicy = { maxAttempts: Infinity, baseDelayMs: 500, maxDelayMs: 30_000, maxWaitMs: 30_000 };

/** STATUS of a folder on the command connection, as a string that changes when the folder does. */
async function folderStatus(connection: ImapConnection, path: string): Promise<string | undefined> {
  const status = await connection.command({ operation: "watch", folder: path }, (client) =>
    client.status(path, { messages: true, uidNext: true, uidValidity: true, highestModseq: true }),
  );
  if (!status) return undefined;
  return `${String(status.uidValidity)}/${status.uidNext}/${status.messages}/${String(status.highestModseq)}`;
}

class FolderWatcher {
  private client: ImapFlow | undefined;
  private stopped = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly statuses = new Map<string, string | undefined>();
  private failures = 0;

  constructor(
    private readonly connection: ImapConnection,
    private readonly idlePath: string,
    private readonly pollPaths: readonly string[],
    private readonly onChange: () => void,
  ) {}

  private get config() {
    return this.connection.config;
  }

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
      this.statuses.set(path, await folderStatus(this.connection, path).catch(() => undefined));
    if (this.pollPaths.length > 0 && !this.stopped) {
      this.pollTimer = setInterval(() => void this.poll(), this.config.pollIntervalMs);
      this.pollTimer.unref();
    }
  }

  private async poll(): Promise<void> {
    for (const path of this.pollPaths) {
      if (this.stopped) return;
      try {
        const status = await folderStatus(this.connection, path);
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
    const client = await this.connection.open("watch", {
      disableAutoIdle: true,
      maxIdleTime: this.config.idleRestartMs,
    });
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
    if (this.stopped) {
      client.close();
      return;
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
    this.failures++;
    const delay = backoffDelay(this.failures, reconnectPolicy, Math.random);
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

/** The watches of one provider, stopped together when the provider closes. */
export class ImapWatches {
  private readonly active = new Set<PushSubscription>();

  constructor(private readonly connection: ImapConnection) {}

  /**
   * Starts watching. Setting up (LIST, connect, SELECT) runs within the command deadline and
   * stops promptly when `options.signal` aborts; an abort after that stops the subscription.
   */
  async watch(onChange: () => void, options: CallOptions): Promise<PushSubscription> {
    const { signal } = options;
    throwIfAborted(signal, "imap");
    const folders = await syncedFolders(this.connection, { operation: "watch", signal });
    const idleFolder = folders[0];
    if (!idleFolder)
      throw new ClientMailError("not_found", "None of the synced IMAP folders exists", {
        details: { provider: "imap" },
      });
    const watcher = new FolderWatcher(
      this.connection,
      idleFolder.path,
      folders.slice(1).map((f) => f.path),
      onChange,
    );
    await withDeadline(
      {
        provider: "imap",
        operation: "watch",
        timeoutMs: this.connection.config.commandTimeoutMs,
        signal,
        onAbort: () => void watcher.stop(),
      },
      () => watcher.start(),
    );
    const subscription: PushSubscription = {
      stop: async () => {
        this.active.delete(subscription);
        await watcher.stop();
      },
    };
    this.active.add(subscription);
    signal?.addEventListener("abort", () => void subscription.stop(), { once: true });
    return subscription;
  }

  /** Stops every watch. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.active].map((subscription) => subscription.stop()));
  }
}
