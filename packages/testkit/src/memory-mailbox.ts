/**
 * An in-process mailbox behind the MailProvider port: the backend of engine tests, demos and the
 * example app's demo mailbox. It keeps an ordered change log, so cursors, deletions, expired
 * cursors, failures and push hints behave like a real provider's, without a server.
 */
import {
  ClientMailError,
  RateLimitedError,
  type AttachmentContent,
  type EmailAddress,
  type FetchResult,
  type ProviderEnvelope,
  type UnreadableReason,
} from "@clientmail/core";
import type { ChangePage, MailProvider, ParticipantSearch, PushSubscription } from "@clientmail/core/ports";

/** A message to put into a {@link MemoryMailbox}. */
export interface MemoryMessageInput {
  folder?: string;
  providerThreadId?: string;
  messageId?: string;
  inReplyTo?: string[];
  references?: string[];
  from: EmailAddress[];
  sender?: EmailAddress[];
  replyTo?: EmailAddress[];
  to?: EmailAddress[];
  cc?: EmailAddress[];
  bcc?: EmailAddress[];
  subject: string;
  date: Date;
  text?: string;
  html?: string;
  attachments?: Array<{ filename: string; contentType: string; content: Uint8Array; contentId?: string }>;
  /** The raw RFC 5322 source the provider reports for this message (R11), when the test needs one. */
  source?: Uint8Array;
}

type Change = { seq: number; kind: "added"; id: string } | { seq: number; kind: "removed"; id: string };

/** Which provider calls can be made to fail. */
export type MemoryMailboxCall = "changes" | "search" | "fetch" | "watch";

/** A scripted failure. */
export type MemoryMailboxFault =
  | { code: "transient" }
  | { code: "rate_limited"; retryAfterMs?: number }
  | { code: "auth_revoked" }
  | { code: "cursor_expired" };

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** An in-memory mailbox and the {@link MailProvider} that reads it. */
export class MemoryMailbox {
  private readonly messages = new Map<string, { envelope: ProviderEnvelope; input: MemoryMessageInput }>();
  private readonly log: Change[] = [];
  private seq = 0;
  private nextId = 1;
  /** Cursors older than this sequence number are rejected with `cursor_expired`. */
  private horizon = 0;
  private readonly faults = new Map<MemoryMailboxCall, MemoryMailboxFault[]>();
  private readonly failingIds = new Map<string, { remaining: number; reason: UnreadableReason }>();
  private readonly hanging = new Set<MemoryMailboxCall>();
  private readonly unlistable = new Set<string>();
  private readonly watchers = new Set<() => void>();
  /** Every provider id passed to `fetch`, in order: lets tests prove what was fetched (F1). */
  readonly fetched: string[] = [];
  /** How many times each call was made. */
  readonly calls: Record<MemoryMailboxCall, number> = { changes: 0, search: 0, fetch: 0, watch: 0 };

  constructor(readonly options: { pageSize?: number } = {}) {}

  /** Adds a message; returns its provider id. Watchers are told. */
  append(input: MemoryMessageInput): string {
    const id = `m${this.nextId++}`;
    const envelope: ProviderEnvelope = {
      providerId: id,
      folder: input.folder ?? "INBOX",
      providerThreadId: input.providerThreadId,
      messageId: input.messageId,
      inReplyTo: input.inReplyTo ?? [],
      references: input.references ?? [],
      from: input.from,
      sender: input.sender ?? [],
      replyTo: input.replyTo ?? [],
      to: input.to ?? [],
      cc: input.cc ?? [],
      bcc: input.bcc ?? [],
      subject: input.subject,
      date: input.date,
      size: (input.text?.length ?? 0) + (input.html?.length ?? 0) + 500,
      flags: [],
    };
    this.messages.set(id, { envelope, input });
    this.log.push({ seq: ++this.seq, kind: "added", id });
    this.notify();
    return id;
  }

  /** Deletes a message (F8). */
  remove(id: string): void {
    if (!this.messages.delete(id)) return;
    this.log.push({ seq: ++this.seq, kind: "removed", id });
    this.notify();
  }

  /**
   * Gives every message a new provider id and voids every cursor, as an IMAP UIDVALIDITY change
   * does: the same messages, listed again under ids never seen before.
   */
  renumber(): void {
    const current = [...this.messages.values()];
    this.messages.clear();
    for (const message of current) {
      const id = `m${this.nextId++}`;
      this.messages.set(id, { envelope: { ...message.envelope, providerId: id }, input: message.input });
    }
    // A new epoch: every cursor from before it is void.
    this.seq += 1;
    this.horizon = this.seq + 1;
  }

  /** Makes every cursor handed out so far invalid, as an expired history id would be. */
  expireCursors(): void {
    this.horizon = this.seq + 1;
  }

  /** The next `count` calls of `call` fail with `fault`. */
  failNext(call: MemoryMailboxCall, fault: MemoryMailboxFault, count = 1): void {
    const queue = this.faults.get(call) ?? [];
    for (let i = 0; i < count; i++) queue.push(fault);
    this.faults.set(call, queue);
  }

  /**
   * This message fails on its own the next `count` times it is fetched: `fetch` yields it as
   * unreadable with `reason` and still delivers the others (a broken message, R1/R2).
   */
  failFetchOf(
    id: string,
    count = Number.POSITIVE_INFINITY,
    reason: UnreadableReason = "server_refused",
  ): void {
    this.failingIds.set(id, { remaining: count, reason });
  }

  /**
   * The listing cannot read this message's envelope on its own (as a Gmail metadata part or a
   * Graph item refused alone): `changes` reports it as unreadable instead of listing it, until
   * {@link MemoryMailbox.healListing} is called. `fetch` still delivers it.
   */
  failListingOf(id: string): void {
    this.unlistable.add(id);
  }

  /** Lists every message's envelope again. */
  healListing(): void {
    this.unlistable.clear();
  }

  /**
   * The next call of `call` hangs like a silent server: it never answers and ends only when the
   * caller's signal aborts (then it fails as `transient`), or never when the caller gives none.
   */
  hangNext(call: MemoryMailboxCall): void {
    this.hanging.add(call);
  }

  /** The provider for this mailbox. */
  provider(): MailProvider {
    return {
      kind: "imap",
      changes: (cursor, options) =>
        this.hangable("changes", options?.signal, () => this.withUnlistable(this.changes(cursor))),
      search: (query, options) => this.hangable("search", options?.signal, () => this.search(query)),
      fetch: (ids, options) => this.hangable("fetch", options?.signal, () => this.fetch(ids)),
      watch: async (onChange) => {
        this.takeFault("watch");
        this.watchers.add(onChange);
        const subscription: PushSubscription = { stop: async () => void this.watchers.delete(onChange) };
        return subscription;
      },
      close: async () => undefined,
    };
  }

  private async *hangable<T>(
    call: MemoryMailboxCall,
    signal: AbortSignal | undefined,
    run: () => AsyncIterable<T>,
  ): AsyncIterable<T> {
    if (this.hanging.delete(call)) {
      this.calls[call] += 1;
      await new Promise<never>((_, reject) => {
        signal?.addEventListener(
          "abort",
          () => reject(new ClientMailError("transient", "The call was aborted")),
          { once: true },
        );
      });
    }
    yield* run();
  }

  private async *withUnlistable(pages: AsyncIterable<ChangePage>): AsyncIterable<ChangePage> {
    for await (const page of pages) {
      if (this.unlistable.size === 0) {
        yield page;
        continue;
      }
      const added = page.added.filter((e) => !this.unlistable.has(e.providerId));
      const unreadable = page.added
        .filter((e) => this.unlistable.has(e.providerId))
        .map((e) => ({
          providerId: e.providerId,
          unreadable: { reason: "server_refused" as const, detail: "the server refused this envelope" },
        }));
      yield { ...page, added, unreadable };
    }
  }

  private notify(): void {
    for (const watcher of this.watchers) queueMicrotask(watcher);
  }

  private takeFault(call: MemoryMailboxCall): void {
    this.calls[call] += 1;
    const fault = this.faults.get(call)?.shift();
    if (!fault) return;
    switch (fault.code) {
      case "rate_limited":
        throw new RateLimitedError("Too many requests", fault.retryAfterMs);
      case "transient":
        throw new ClientMailError("transient", "Connection reset by peer");
      case "auth_revoked":
        throw new ClientMailError("auth_revoked", "Credentials were revoked");
      case "cursor_expired":
        throw new ClientMailError("cursor_expired", "Cursor is no longer valid");
    }
  }

  private async *changes(cursor: string | undefined): AsyncIterable<ChangePage> {
    this.takeFault("changes");
    const pageSize = this.options.pageSize ?? 50;
    if (cursor === undefined) {
      // A full listing: every current message, then the cursor at the log's end.
      const ids = [...this.messages.keys()];
      const end = this.seq;
      if (ids.length === 0) {
        yield { added: [], removed: [], cursor: String(end), done: true, estimatedTotal: 0 };
        return;
      }
      for (let i = 0; i < ids.length; i += pageSize) {
        const slice = ids.slice(i, i + pageSize).flatMap((id) => {
          const message = this.messages.get(id);
          return message ? [message.envelope] : [];
        });
        const done = i + pageSize >= ids.length;
        // Mid-listing pages resume the listing; only the last one moves to the change log.
        yield {
          added: slice,
          removed: [],
          cursor: done ? String(end) : `listing:${end}:${i + pageSize}`,
          done,
          estimatedTotal: ids.length,
        };
      }
      return;
    }
    let from: number;
    if (cursor.startsWith("listing:")) {
      const [, end, offset] = cursor.split(":");
      if (Number(end) < this.horizon)
        throw new ClientMailError("cursor_expired", "Cursor is no longer valid");
      const ids = [...this.messages.keys()].slice(Number(offset));
      for (let i = 0; i < ids.length; i += pageSize) {
        const done = i + pageSize >= ids.length;
        yield {
          added: ids.slice(i, i + pageSize).map((id) => this.messages.get(id)!.envelope),
          removed: [],
          cursor: done ? String(end) : `listing:${end}:${Number(offset) + i + pageSize}`,
          done: false,
        };
      }
      from = Number(end);
    } else {
      from = Number(cursor);
      if (!Number.isInteger(from)) throw new ClientMailError("cursor_expired", "The cursor cannot be read");
      if (from < this.horizon - 1) throw new ClientMailError("cursor_expired", "Cursor is no longer valid");
    }
    const pending = this.log.filter((change) => change.seq > from);
    if (pending.length === 0) {
      yield { added: [], removed: [], cursor: String(Math.max(from, this.seq)), done: true };
      return;
    }
    for (let i = 0; i < pending.length; i += pageSize) {
      const slice = pending.slice(i, i + pageSize);
      const added = slice.flatMap((change) => {
        const message = change.kind === "added" ? this.messages.get(change.id) : undefined;
        return message ? [message.envelope] : [];
      });
      const removed = slice.filter((change) => change.kind === "removed").map((change) => change.id);
      yield {
        added,
        removed,
        cursor: String(slice[slice.length - 1]!.seq),
        done: i + pageSize >= pending.length,
      };
    }
  }

  private async *search(query: ParticipantSearch): AsyncIterable<ProviderEnvelope[]> {
    this.takeFault("search");
    const wanted = new Set(query.addresses);
    const hits: ProviderEnvelope[] = [];
    for (const { envelope } of this.messages.values()) {
      if (query.since && envelope.date < query.since) continue;
      if (query.before && envelope.date >= query.before) continue;
      const participants = [
        envelope.from,
        envelope.sender,
        envelope.replyTo,
        envelope.to,
        envelope.cc,
        envelope.bcc,
      ].flat();
      if (participants.some((p) => wanted.has(p.address))) hits.push(envelope);
    }
    const pageSize = this.options.pageSize ?? 50;
    for (let i = 0; i < hits.length; i += pageSize) yield hits.slice(i, i + pageSize);
  }

  private async *fetch(ids: readonly string[]): AsyncIterable<FetchResult> {
    this.takeFault("fetch");
    for (const id of ids) {
      this.fetched.push(id);
      const failing = this.failingIds.get(id);
      if (failing !== undefined && failing.remaining > 0 && this.messages.has(id)) {
        this.failingIds.set(id, { ...failing, remaining: failing.remaining - 1 });
        yield {
          providerId: id,
          unreadable: { reason: failing.reason, detail: "the server refused this message" },
        };
        continue;
      }
      const message = this.messages.get(id);
      if (!message) continue;
      const attachments: AttachmentContent[] = [];
      for (const attachment of message.input.attachments ?? []) {
        const content = attachment.content;
        attachments.push({
          filename: attachment.filename,
          contentType: attachment.contentType,
          size: content.byteLength,
          contentHash: await sha256Hex(content),
          ...(attachment.contentId === undefined ? {} : { contentId: attachment.contentId }),
          content: async function* () {
            yield content;
          },
        });
      }
      const source = message.input.source;
      yield {
        envelope: message.envelope,
        text: message.input.text,
        html: message.input.html,
        attachments,
        ...(source
          ? {
              source: async function* () {
                yield source;
              },
            }
          : {}),
      };
    }
  }
}
