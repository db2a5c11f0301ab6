import {
  addressesIn,
  buildPayload,
  headerValue,
  parseHeaders,
  splitMessage,
  type GmailHeader,
} from "./mime.js";

/** A message as the fake stores it. */
export interface GmailFakeMessage {
  id: string;
  threadId: string;
  labelIds: string[];
  /** The RFC 2822 source, byte for byte as it was added (8-bit content in any charset included). */
  raw: Buffer;
  /** Epoch ms the message was received. */
  internalDate: number;
  /** The history id of the last change to this message. */
  historyId: number;
  headers: GmailHeader[];
  /** Lower-cased searchable text (headers and body) for bare-word terms. */
  text: string;
  hasAttachment: boolean;
  sizeEstimate: number;
}

/** A message reference inside a history record. */
export interface HistoryMessageRef {
  id: string;
  threadId: string;
  labelIds?: string[];
}

/** One history record, shaped like the API's. */
export interface GmailHistoryRecord {
  id: string;
  messages: { id: string; threadId: string }[];
  messagesAdded?: { message: HistoryMessageRef }[];
  messagesDeleted?: { message: HistoryMessageRef }[];
  labelsAdded?: { message: HistoryMessageRef; labelIds: string[] }[];
  labelsRemoved?: { message: HistoryMessageRef; labelIds: string[] }[];
}

/** A send-as alias as `users.settings.sendAs.list` reports it. */
export interface GmailSendAs {
  sendAsEmail: string;
  displayName?: string;
  isPrimary?: boolean;
  isDefault?: boolean;
  treatAsAlias?: boolean;
  verificationStatus?: "accepted" | "pending";
}

/** What to add to a mailbox. */
export interface NewGmailMessage {
  /**
   * RFC 2822 source; CRLF or LF. Bytes are kept as they are, so 8-bit messages in any charset
   * (e.g. ISO-8859-1) can be stored; a string is taken as UTF-8.
   */
  raw: string | Uint8Array;
  /** Defaults to `["INBOX", "UNREAD"]`. */
  labelIds?: string[];
  /** Defaults to the Date header, else the fake's clock. */
  internalDate?: Date;
  /** Force a thread; otherwise Gmail's rule (references + same subject) decides. */
  threadId?: string;
}

/** Active `users.watch` registration. */
export interface GmailWatch {
  topicName: string;
  labelIds: string[];
  labelFilterBehavior: "INCLUDE" | "EXCLUDE";
  expiration: number;
}

/** A Pub/Sub push as Gmail would deliver it to a push subscription endpoint. */
export interface GmailPushMessage {
  message: { data: string; messageId: string; publishTime: string };
  subscription: string;
}

/** Mulberry32: a small seeded generator so history-id gaps are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function baseSubject(subject: string): string {
  return subject
    .replace(/^((re|fw|fwd|aw|wg|sv|vs)\s*:\s*)+/i, "")
    .trim()
    .toLowerCase();
}

function messageIdsIn(value: string | undefined): string[] {
  return value ? [...value.matchAll(/<[^<>]+>/g)].map((match) => match[0].toLowerCase()) : [];
}

/** Internal hooks a mailbox uses to reach its fake. */
export interface MailboxHost {
  now(): number;
  random(): number;
  nextMessageId(): string;
  notifyChange(mailbox: GmailFakeMailbox): void;
  historyRetentionMs: number;
}

/**
 * One user's mailbox in the fake: messages, labels, threads and the history log. Mutate it
 * directly in tests (`addMessage`, `deleteMessage`, `modifyLabels`); every mutation writes history
 * records and moves the history id forward by a random, non-contiguous gap, as Gmail does.
 */
export class GmailFakeMailbox {
  readonly address: string;
  readonly messages = new Map<string, GmailFakeMessage>();
  readonly history: { record: GmailHistoryRecord; at: number; numericId: number }[] = [];
  readonly labelNames = new Map<string, string>();
  sendAs: GmailSendAs[];
  watch: GmailWatch | undefined;
  /** History ids below this are no longer accepted (404). */
  oldestValidHistoryId: number;
  private currentHistoryId: number;
  private sorted: GmailFakeMessage[] | undefined;

  constructor(
    address: string,
    private readonly host: MailboxHost,
    startHistoryId: number,
  ) {
    this.address = address.toLowerCase();
    this.currentHistoryId = startHistoryId;
    this.oldestValidHistoryId = startHistoryId;
    this.sendAs = [
      {
        sendAsEmail: this.address,
        isPrimary: true,
        isDefault: true,
        treatAsAlias: false,
        verificationStatus: "accepted",
      },
    ];
  }

  /** The mailbox's current history id. */
  get historyId(): number {
    return this.currentHistoryId;
  }

  /** Adds an accepted (or pending) send-as alias. */
  addAlias(address: string, verificationStatus: "accepted" | "pending" = "accepted"): void {
    this.sendAs.push({
      sendAsEmail: address.toLowerCase(),
      isPrimary: false,
      isDefault: false,
      treatAsAlias: true,
      verificationStatus,
    });
  }

  /** Messages newest first (internalDate, then id), the order `messages.list` returns. */
  listOrder(): GmailFakeMessage[] {
    this.sorted ??= [...this.messages.values()].sort((a, b) =>
      b.internalDate !== a.internalDate
        ? b.internalDate - a.internalDate
        : b.id < a.id
          ? -1
          : b.id > a.id
            ? 1
            : 0,
    );
    return this.sorted;
  }

  private bumpHistory(): number {
    this.currentHistoryId += 1 + Math.floor(this.host.random() * 4);
    return this.currentHistoryId;
  }

  private record(record: Omit<GmailHistoryRecord, "id">): void {
    const id = this.bumpHistory();
    this.history.push({ record: { id: String(id), ...record }, at: this.host.now(), numericId: id });
    this.pruneHistory();
    this.host.notifyChange(this);
  }

  private pruneHistory(): void {
    const cutoff = this.host.now() - this.host.historyRetentionMs;
    let drop = 0;
    while (drop < this.history.length && this.history[drop]!.at < cutoff) drop += 1;
    if (drop > 0) {
      this.oldestValidHistoryId = this.history[drop - 1]!.numericId;
      this.history.splice(0, drop);
    }
  }

  private threadFor(headers: GmailHeader[]): string | undefined {
    const referenced = new Set([
      ...messageIdsIn(headerValue(headers, "References")),
      ...messageIdsIn(headerValue(headers, "In-Reply-To")),
    ]);
    if (referenced.size === 0) return undefined;
    const subject = baseSubject(headerValue(headers, "Subject") ?? "");
    for (const message of this.messages.values()) {
      const id = messageIdsIn(headerValue(message.headers, "Message-ID"))[0];
      if (
        id !== undefined &&
        referenced.has(id) &&
        baseSubject(headerValue(message.headers, "Subject") ?? "") === subject
      ) {
        return message.threadId;
      }
    }
    return undefined;
  }

  /** Stores a message (as delivery or `messages.insert` would), recording `messagesAdded`. */
  addMessage(input: NewGmailMessage): GmailFakeMessage {
    const raw = typeof input.raw === "string" ? Buffer.from(input.raw, "utf8") : Buffer.from(input.raw);
    // Header bytes are UTF-8 when 8-bit (RFC 6532); the body may be in any charset.
    const { headerText, body } = splitMessage(raw.toString("utf8"));
    const headers = parseHeaders(headerText);
    const id = this.host.nextMessageId();
    const dateHeader = headerValue(headers, "Date");
    const parsedDate = dateHeader ? Date.parse(dateHeader) : Number.NaN;
    const internalDate =
      input.internalDate?.getTime() ?? (Number.isNaN(parsedDate) ? this.host.now() : parsedDate);
    const threadId = input.threadId ?? this.threadFor(headers) ?? id;
    const hasAttachment =
      /content-disposition:\s*attachment/i.test(headerText + body) || /\bfilename=/i.test(body);
    const message: GmailFakeMessage = {
      id,
      threadId,
      labelIds: [...(input.labelIds ?? ["INBOX", "UNREAD"])],
      raw,
      internalDate,
      historyId: 0,
      headers,
      text: `${headerText}\n${body}`.toLowerCase(),
      hasAttachment,
      sizeEstimate: raw.length,
    };
    this.messages.set(id, message);
    this.sorted = undefined;
    this.record({
      messages: [{ id, threadId }],
      messagesAdded: [{ message: { id, threadId, labelIds: [...message.labelIds] } }],
    });
    message.historyId = this.currentHistoryId;
    return message;
  }

  /** Permanently deletes a message, recording `messagesDeleted`. Returns false when absent. */
  deleteMessage(id: string): boolean {
    const message = this.messages.get(id);
    if (!message) return false;
    this.messages.delete(id);
    this.sorted = undefined;
    this.record({
      messages: [{ id, threadId: message.threadId }],
      messagesDeleted: [{ message: { id, threadId: message.threadId, labelIds: [...message.labelIds] } }],
    });
    return true;
  }

  /** Adds and removes labels, recording `labelsAdded`/`labelsRemoved`. Returns false when absent. */
  modifyLabels(id: string, add: readonly string[], remove: readonly string[] = []): boolean {
    const message = this.messages.get(id);
    if (!message) return false;
    const added = add.filter((label) => !message.labelIds.includes(label));
    const removed = remove.filter((label) => message.labelIds.includes(label));
    message.labelIds = [...message.labelIds.filter((label) => !removed.includes(label)), ...added];
    const ref = () => ({ id, threadId: message.threadId, labelIds: [...message.labelIds] });
    const record: Omit<GmailHistoryRecord, "id"> = { messages: [{ id, threadId: message.threadId }] };
    if (added.length > 0) record.labelsAdded = [{ message: ref(), labelIds: added }];
    if (removed.length > 0) record.labelsRemoved = [{ message: ref(), labelIds: removed }];
    if (added.length + removed.length > 0) {
      this.record(record);
      message.historyId = this.currentHistoryId;
    }
    return true;
  }

  /**
   * Forgets every history record up to now, as Gmail does after about a week (sometimes hours):
   * every history id handed out so far then gets 404 notFound.
   */
  expireHistory(): void {
    this.history.splice(0, this.history.length);
    // The id moves on (as it does over the days history takes to expire), so every id handed out
    // so far is refused while the current one, read by a new full sync, is accepted.
    this.bumpHistory();
    this.oldestValidHistoryId = this.currentHistoryId;
  }

  /** Participants of a message, for alias handling and delivery. */
  recipientsOf(message: GmailFakeMessage): string[] {
    return ["To", "Cc", "Bcc"].flatMap((name) => addressesIn(headerValue(message.headers, name)));
  }

  /** The `format=full` payload of a message. */
  payloadOf(message: GmailFakeMessage): ReturnType<typeof buildPayload> {
    return buildPayload(message.raw, "", (partId) => `${message.id}-att-${partId}`);
  }
}
