/**
 * A faithful Microsoft Graph mail fake: msw handlers (and a ready `fetch`) over an in-memory
 * model, reproducing the semantics and exact bodies of the live service: per-folder delta with
 * nextLink/deltaLink (empty pages, replays, duplicates, `@removed`), `Prefer` headers, `$select`,
 * 410 SyncStateNotFound / resyncRequired, 429 TooManyRequests / ApplicationThrottled with
 * Retry-After in every form, the four-concurrent-requests-per-mailbox rule, `$batch`, `$value`,
 * shared mailboxes via `/users/{address}`, and change-notification subscriptions with the
 * validation handshake and lifecycle events.
 */
import { getResponse, http, HttpResponse, type RequestHandler } from "msw";
import { decodeEncodedWords } from "@clientmail/core";
import {
  addFolder,
  conversationIdFor,
  createMailbox,
  findFolder,
  findMessage,
  logChange,
  parseAddressHeader,
  parseHeaderBlock,
  renderMime,
  restId,
  toAddress,
  type GraphAddress,
  type GraphFakeMessageInput,
  type StoredFolder,
  type StoredMailbox,
  type StoredMessage,
} from "./model.js";
import { matchesFilter, matchesSearch } from "./query.js";
import { faultResponse, graphFaults, type GraphFault, type GraphRetryAfter } from "./responses.js";
import {
  extendedPropertyFilter,
  handleCreateReply,
  handleSendDraft,
  handleSendMail,
  type GraphSendContext,
} from "./send.js";
import { MicrosoftIdentityFake } from "./identity.js";

/** The Graph host the fake answers for. */
export const graphBaseUrl = "https://graph.microsoft.com";
/** The Microsoft identity platform host whose token endpoint the fake answers for. */
export const microsoftLoginUrl = "https://login.microsoftonline.com";

/** Every kind of call the fake distinguishes; faults are scripted per operation. */
export type GraphOperation =
  | "delta"
  | "getMessage"
  | "getMime"
  | "listMessages"
  | "getFolder"
  | "listFolders"
  | "batch"
  | "createSubscription"
  | "listSubscriptions"
  | "renewSubscription"
  | "reauthorizeSubscription"
  | "deleteSubscription"
  | "token"
  | "sendMail"
  | "createReply"
  | "sendDraft"
  | "unknown";

/** Behaviours of the live service that are legal but surprising; all off by default. */
export interface GraphFakeQuirks {
  /** Empty pages (with a nextLink) served at the start of every delta round. */
  emptyPagesPerRound?: number;
  /** Each delta round repeats the first half of its items at the end. */
  duplicateItems?: boolean;
  /** Delta links point this many mailbox changes back, so the next round replays them. */
  replayOverlap?: number;
  /**
   * Incremental rounds report messages that only changed (not new to the folder) with just
   * `id`, `isRead` and `changeKey`, as Graph may ("updates may include only the changed properties").
   */
  partialUpdates?: boolean;
}

/** Options of {@link createGraphFake}. */
export interface GraphFakeOptions {
  /** Time source for received dates, subscription expiry and Retry-After dates. */
  clock?: { now(): Date };
  /** Real milliseconds each mailbox request takes; needed to observe the concurrency rule. Default 0. */
  latencyMs?: number;
  /** Concurrent requests per mailbox before ApplicationThrottled. Default 4, as Outlook. */
  maxConcurrentRequests?: number;
  /**
   * Requests per mailbox in a sliding window before 429 TooManyRequests (with Retry-After until
   * the window frees up). Default Outlook's 10,000 per 10 minutes; `false` for no limit.
   */
  mailboxRequestLimit?: { requests: number; windowMs: number } | false;
  /** Retry-After sent with the concurrency 429; the live service usually sends none. */
  concurrencyRetryAfter?: GraphRetryAfter;
  /** Delta page size without `Prefer: odata.maxpagesize`. Default 10. */
  defaultPageSize?: number;
  quirks?: GraphFakeQuirks;
  /**
   * Delivers notifications and validation requests to subscribers' URLs. Default: global
   * `fetch`. Tests pass the receiving handler directly, keeping everything in-process.
   */
  deliver?: (request: Request) => Promise<Response>;
  /** How long a notification endpoint has to echo the validation token. Default 10 000 ms. */
  validationTimeoutMs?: number;
  /**
   * Results of one `$search` on messages at most; beyond them there is no nextLink. Default
   * 1,000, Microsoft's documented limit for `$search` on messages.
   */
  searchResultLimit?: number;
  /** Order of `$batch` responses; Graph promises none. Default `reverse`. */
  batchResponseOrder?: "reverse" | "request";
  tenantId?: string;
  /** Messages larger than this (bytes) are refused with 413 `ErrorMessageSizeExceeded`. Default 35 MB. */
  maxMessageBytes?: number;
}

/** One request the fake answered. */
export interface RecordedGraphRequest {
  method: string;
  url: string;
  operation: GraphOperation;
  status: number;
  mailbox: string | undefined;
  prefer: string | undefined;
  inBatch: boolean;
}

/** A change notification or lifecycle event the fake delivered, with the subscriber's answer. */
export interface RecordedDelivery {
  url: string;
  kind: "validation" | "notification" | "lifecycle";
  body: unknown;
  status: number | undefined;
  error?: string;
}

/** A subscription as the fake holds it. */
export interface FakeSubscription {
  id: string;
  resource: string;
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl: string | undefined;
  clientState: string | undefined;
  expirationDateTime: Date;
  mailbox: string;
  folderId: string | undefined;
  /** Who created it (the access token's user, `app:<id>` for an application): `GET /subscriptions` lists theirs. */
  owner: string;
}

/** Handle on one fake mailbox. Ids returned are immutable ids. */
export interface GraphFakeMailbox {
  readonly address: string;
  /** Adds a message; returns its immutable id. Notifies subscribers. */
  addMessage(input: GraphFakeMessageInput): string;
  /**
   * Adds a message given as raw RFC 5322 text, kept verbatim for `$value`; the Graph properties
   * are read from its headers and it counts as received now. Returns its immutable id.
   */
  addRawMessage(raw: string | Uint8Array, folder?: string): string;
  /** Hard-deletes every message whose Message-ID header is `messageId`; returns how many. */
  deleteByMessageId(messageId: string): number;
  /** Moves a message: its REST id changes, its immutable id does not. */
  moveMessage(id: string, folder: string): void;
  /** Hard-deletes a message. Unknown ids are ignored. */
  deleteMessage(id: string): void;
  markRead(id: string, isRead: boolean): void;
  /** Adds a custom folder; returns its id. */
  addFolder(displayName: string): string;
  /** The folder id of a well-known name (`inbox`) or display name; undefined when none. */
  folderId(name: string): string | undefined;
  /** Immutable ids of the live messages, optionally of one folder. */
  messageIds(folder?: string): string[];
  /** A stored message, by immutable or current REST id; undefined when gone. */
  message(id: string): Readonly<StoredMessage> | undefined;
  /** Makes every delta and skip token issued so far answer 410 SyncStateNotFound. */
  expireDeltaTokens(): void;
}

/** The fake. Use `handlers` with msw's `setupServer`, or `fetch` directly. */
export interface GraphFake {
  readonly handlers: RequestHandler[];
  /** A `fetch` answered by the fake only, without patching globals; rejects on `networkError` faults. */
  readonly fetch: typeof fetch;
  addMailbox(address: string, options?: { displayName?: string; delegates?: string[] }): GraphFakeMailbox;
  /** The handle of an existing mailbox; throws when there is none. */
  mailbox(address: string): GraphFakeMailbox;
  /** A bearer token that authenticates as `user`. */
  accessTokenFor(user: string): string;
  /** Makes every access token of `user` answer 401 InvalidAuthenticationToken. */
  revokeAccessTokens(user: string): void;
  /** A refresh token the fake token endpoint accepts for `user`. */
  issueRefreshToken(user: string): string;
  /** Makes the token endpoint answer invalid_grant for every refresh token of `user`. */
  revokeRefreshTokens(user: string): void;
  /**
   * The tenant's identity platform as MSAL meets it: register an app (`registerApp`), approve a
   * consent URL as a user (`approveConsent`), revoke a user's refresh tokens (`revokeUser`).
   */
  readonly identity: Pick<MicrosoftIdentityFake, "registerApp" | "approveConsent" | "revokeUser">;
  /**
   * An admin consents to the app's Mail application permission: its app-only tokens then reach
   * every mailbox of the tenant through `/users/{id}`. Without it they get 403.
   */
  grantApplicationAccess(clientId: string): void;
  /**
   * Fault scripting: the next `count` calls of `operation` (inside `$batch` too) get `fault`
   * instead of their result. Scripts are consumed in the order they were added.
   */
  failNext(
    count: number,
    operation: GraphOperation | "any",
    fault: GraphFault | ((now: Date) => GraphFault),
  ): void;
  /** Drops every scripted fault not yet consumed. */
  clearFaults(): void;
  readonly requests: RecordedGraphRequest[];
  /** Highest number of concurrent requests seen for a mailbox (rejected ones excluded). */
  maxConcurrencySeen(mailbox: string): number;
  subscriptions(): FakeSubscription[];
  /** Sends a lifecycle event to the subscription's lifecycle URL; `subscriptionRemoved` also deletes it. */
  emitLifecycleEvent(
    subscriptionId: string,
    event: "reauthorizationRequired" | "subscriptionRemoved" | "missed",
  ): Promise<RecordedDelivery>;
  /** Resolves once every notification queued so far has been delivered (or failed). */
  flushNotifications(): Promise<void>;
  readonly deliveries: RecordedDelivery[];
}

interface RoundState {
  mailbox: string;
  folderId: string;
  userPath: string;
  generation: number;
  select: string[] | undefined;
  expand: string | undefined;
  pageSize: number;
  items: string[];
  offset: number;
  endSeq: number;
  emptyPagesLeft: number;
  /** The sequence number the round's delta token stood at; undefined for a full round. */
  sinceSeq?: number | undefined;
}

interface DeltaState {
  mailbox: string;
  folderId: string;
  userPath: string;
  generation: number;
  select: string[] | undefined;
  expand: string | undefined;
  pageSize: number;
  seq: number;
}

interface ListState {
  userPath: string;
  ids: string[];
  offset: number;
  pageSize: number;
  select: string[] | undefined;
  mailbox: string;
}

interface Context {
  request: Request;
  url: URL;
  inBatch: boolean;
}

interface ScriptedFault {
  remaining: number;
  operation: GraphOperation | "any";
  fault: GraphFault | ((now: Date) => GraphFault);
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json; odata.metadata=minimal", ...headers },
  });
}

function graphError(status: number, code: string, message: string): Response {
  return json({ error: { code, message } }, status);
}

function emailAddress(address: GraphAddress): { emailAddress: { name: string; address: string } } {
  return { emailAddress: { name: address.name ?? address.address, address: address.address } };
}

function parsePrefer(request: Request): {
  maxPageSize?: number;
  immutableId: boolean;
  raw: string | undefined;
} {
  const raw = request.headers.get("Prefer") ?? undefined;
  const values = (raw ?? "").split(",").map((v) => v.trim());
  let maxPageSize: number | undefined;
  let immutableId = false;
  for (const value of values) {
    const size = /^odata\.maxpagesize\s*=\s*(\d+)$/i.exec(value);
    if (size) maxPageSize = Number(size[1]);
    if (/^IdType\s*=\s*"?ImmutableId"?$/i.test(value)) immutableId = true;
  }
  return { ...(maxPageSize === undefined ? {} : { maxPageSize }), immutableId, raw };
}

function parseSelect(url: URL): string[] | undefined {
  const select = url.searchParams.get("$select");
  if (select === null) return undefined;
  return select
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

function timeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Creates a Graph fake with no mailboxes. */
export function createGraphFake(options: GraphFakeOptions = {}): GraphFake {
  const clock = options.clock ?? { now: () => new Date() };
  const maxConcurrent = options.maxConcurrentRequests ?? 4;
  const defaultPageSize = options.defaultPageSize ?? 10;
  const quirks = options.quirks ?? {};
  const deliver = options.deliver ?? ((request: Request) => fetch(request));
  const validationTimeoutMs = options.validationTimeoutMs ?? 10_000;
  const tenantId = options.tenantId ?? "72f988bf-86f1-41af-91ab-2d7cd011db47";

  const mailboxes = new Map<string, StoredMailbox>();
  const accessTokens = new Map<string, { user: string; revoked: boolean }>();
  /** App-only principals are `app:<client id>` in `accessTokens`; these have the Mail application permission. */
  const appsWithMailAccess = new Set<string>();
  const refreshTokens = new Map<string, { user: string; revoked: boolean }>();
  const rounds = new Map<string, RoundState>();
  const deltas = new Map<string, DeltaState>();
  const lists = new Map<string, ListState>();
  const subscriptions = new Map<string, FakeSubscription>();
  const faults: ScriptedFault[] = [];
  const requests: RecordedGraphRequest[] = [];
  const deliveries: RecordedDelivery[] = [];
  const pendingDeliveries = new Set<Promise<void>>();
  const inFlight = new Map<string, number>();
  const recentRequests = new Map<string, number[]>();
  const requestLimit =
    options.mailboxRequestLimit === undefined
      ? { requests: 10_000, windowMs: 600_000 }
      : options.mailboxRequestLimit;
  const maxSeen = new Map<string, number>();
  let counter = 0;
  let messageCounter = 0;

  const nextToken = (prefix: string): string => {
    counter += 1;
    return `${prefix}${Buffer.from(`${counter}:${Math.random().toString(36).slice(2, 10)}`).toString("base64url")}`;
  };

  // ---------------------------------------------------------------- notifications

  function queueDelivery(
    url: string,
    kind: RecordedDelivery["kind"],
    body: unknown,
  ): Promise<RecordedDelivery> {
    const record: RecordedDelivery = { url, kind, body, status: undefined };
    deliveries.push(record);
    const work = (async () => {
      try {
        const response = await timeout(
          deliver(
            new Request(url, {
              method: "POST",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify(body),
            }),
          ),
          validationTimeoutMs,
        );
        record.status = response.status;
      } catch (error) {
        record.error = error instanceof Error ? error.message : String(error);
      }
      return record;
    })();
    const tracked = work.then(() => undefined);
    pendingDeliveries.add(tracked);
    void tracked.finally(() => pendingDeliveries.delete(tracked));
    return work;
  }

  function notify(
    mailbox: StoredMailbox,
    folder: StoredFolder,
    message: StoredMessage,
    changeType: string,
  ): void {
    for (const subscription of subscriptions.values()) {
      if (subscription.mailbox !== mailbox.address) continue;
      if (subscription.folderId !== undefined && subscription.folderId !== folder.id) continue;
      if (
        !subscription.changeType
          .split(",")
          .map((c) => c.trim())
          .includes(changeType)
      )
        continue;
      if (subscription.expirationDateTime.getTime() <= clock.now().getTime()) continue;
      const id = restId(message);
      void queueDelivery(subscription.notificationUrl, "notification", {
        value: [
          {
            subscriptionId: subscription.id,
            subscriptionExpirationDateTime: subscription.expirationDateTime.toISOString(),
            changeType,
            resource: `Users/${mailbox.userId}/Messages/${id}`,
            resourceData: {
              "@odata.type": "#Microsoft.Graph.Message",
              "@odata.id": `Users/${mailbox.userId}/Messages/${id}`,
              "@odata.etag": `W/"CQAAABYAAAA${message.changeKey}"`,
              id,
            },
            clientState: subscription.clientState ?? null,
            tenantId,
          },
        ],
      });
    }
  }

  // ---------------------------------------------------------------- sending

  const extendedProperties = new Map<string, Map<string, string>>();

  function sendContext(mailbox: StoredMailbox): GraphSendContext {
    return {
      mailbox,
      addMessage: (target, input) => handleFor(target).addMessage(input),
      addRawMessage: (target, raw, folder) => handleFor(target).addRawMessage(raw, folder),
      moveMessage: (target, id, folder) => handleFor(target).moveMessage(id, folder),
      mailboxOf: (address) => mailboxes.get(address.toLowerCase()),
      render: (message) => renderMessage(message, undefined, false, undefined),
      extendedProperties,
      maxMessageBytes: options.maxMessageBytes ?? 35 * 1024 * 1024,
    };
  }

  // ---------------------------------------------------------------- mailbox model

  function requireMailbox(address: string): StoredMailbox {
    const mailbox = mailboxes.get(address.toLowerCase());
    if (!mailbox) throw new Error(`No fake Graph mailbox ${address}`);
    return mailbox;
  }

  function handleFor(mailbox: StoredMailbox): GraphFakeMailbox {
    const folderOrThrow = (name: string): StoredFolder => {
      const folder = findFolder(mailbox, name);
      if (!folder) throw new Error(`No folder ${name} in ${mailbox.address}`);
      return folder;
    };
    const insert = (folder: StoredFolder, message: StoredMessage): string => {
      mailbox.messages.set(message.immutableId, message);
      message.arrivedSeq = logChange(mailbox, folder, message.immutableId);
      notify(mailbox, folder, message, "created");
      return message.immutableId;
    };
    return {
      address: mailbox.address,
      addMessage(input) {
        const folder = folderOrThrow(input.folder ?? "inbox");
        messageCounter += 1;
        const serial = messageCounter;
        const date = input.date ?? clock.now();
        const from = toAddress(input.from);
        const subject = input.subject ?? "";
        const base = {
          immutableId: `AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A${Buffer.from(`${mailbox.address}#${serial}`).toString("base64url")}AAA=`,
          moveGeneration: 0,
          serial,
          folderId: folder.id,
          from,
          sender: input.sender === undefined ? from : toAddress(input.sender),
          replyTo: (input.replyTo ?? []).map(toAddress),
          to: (input.to ?? []).map(toAddress),
          cc: (input.cc ?? []).map(toAddress),
          bcc: (input.bcc ?? []).map(toAddress),
          subject,
          internetMessageId:
            input.messageId === null
              ? undefined
              : (input.messageId ?? `<fake-${serial}.${Date.now()}@graph.fake>`),
          inReplyTo: input.inReplyTo,
          references: input.references ?? [],
          sentDateTime: date,
          receivedDateTime: input.receivedAt ?? date,
          lastModifiedDateTime: clock.now(),
          text: input.text ?? (input.html === undefined ? "" : undefined),
          html: input.html,
          attachments: input.attachments ?? [],
          conversationId: input.conversationId ?? conversationIdFor(subject),
          isRead: input.isRead ?? false,
          hasInternetHeaders: input.hasInternetHeaders ?? folder.wellKnownName !== "sentitems",
          changeKey: 1,
        };
        const { mime, headers } = renderMime(base);
        return insert(folder, { ...base, mime, headers });
      },
      addRawMessage(raw, folderName) {
        const folder = folderOrThrow(folderName ?? "inbox");
        messageCounter += 1;
        const serial = messageCounter;
        // Header bytes are UTF-8 when 8-bit (RFC 6532); the body keeps its bytes in `mime`.
        const headers = parseHeaderBlock(typeof raw === "string" ? raw : Buffer.from(raw).toString("utf8"));
        const get = (name: string): string | undefined =>
          headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;
        const from = parseAddressHeader(get("From"), decodeEncodedWords)[0] ?? { address: "" };
        const subject = decodeEncodedWords(get("Subject") ?? "");
        const dateHeader = get("Date");
        const date =
          dateHeader === undefined || Number.isNaN(Date.parse(dateHeader))
            ? clock.now()
            : new Date(dateHeader);
        return insert(folder, {
          immutableId: `AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A${Buffer.from(`${mailbox.address}#${serial}`).toString("base64url")}AAA=`,
          moveGeneration: 0,
          serial,
          folderId: folder.id,
          from,
          sender: parseAddressHeader(get("Sender"), decodeEncodedWords)[0] ?? from,
          replyTo: parseAddressHeader(get("Reply-To"), decodeEncodedWords),
          to: parseAddressHeader(get("To"), decodeEncodedWords),
          cc: parseAddressHeader(get("Cc"), decodeEncodedWords),
          bcc: folder.wellKnownName === "sentitems" ? parseAddressHeader(get("Bcc"), decodeEncodedWords) : [],
          subject,
          internetMessageId: get("Message-ID"),
          inReplyTo: get("In-Reply-To"),
          references: (get("References") ?? "").match(/<[^<>\s]+>/g) ?? [],
          sentDateTime: date,
          receivedDateTime: clock.now(),
          lastModifiedDateTime: clock.now(),
          text: undefined,
          html: undefined,
          attachments: [],
          conversationId: conversationIdFor(subject),
          isRead: false,
          hasInternetHeaders: folder.wellKnownName !== "sentitems",
          changeKey: 1,
          mime: raw,
          headers,
        });
      },
      deleteByMessageId(messageId) {
        const matches = [...mailbox.messages.values()].filter((m) => m.internetMessageId === messageId);
        for (const message of matches) this.deleteMessage(message.immutableId);
        return matches.length;
      },
      moveMessage(id, folderName) {
        const message = findMessage(mailbox, id);
        if (!message) throw new Error(`No message ${id}`);
        const from = mailbox.folders.get(message.folderId);
        const to = folderOrThrow(folderName);
        message.folderId = to.id;
        message.moveGeneration += 1;
        message.changeKey += 1;
        message.lastModifiedDateTime = clock.now();
        if (from) {
          logChange(mailbox, from, message.immutableId);
          notify(mailbox, from, message, "deleted");
        }
        message.arrivedSeq = logChange(mailbox, to, message.immutableId);
        notify(mailbox, to, message, "created");
      },
      deleteMessage(id) {
        const message = findMessage(mailbox, id);
        if (!message) return;
        mailbox.messages.delete(message.immutableId);
        const folder = mailbox.folders.get(message.folderId);
        if (folder) {
          logChange(mailbox, folder, message.immutableId);
          notify(mailbox, folder, message, "deleted");
        }
      },
      markRead(id, isRead) {
        const message = findMessage(mailbox, id);
        if (!message) throw new Error(`No message ${id}`);
        message.isRead = isRead;
        message.changeKey += 1;
        message.lastModifiedDateTime = clock.now();
        const folder = mailbox.folders.get(message.folderId);
        if (folder) {
          logChange(mailbox, folder, message.immutableId);
          notify(mailbox, folder, message, "updated");
        }
      },
      addFolder(displayName) {
        return addFolder(mailbox, displayName).id;
      },
      folderId(name) {
        return findFolder(mailbox, name)?.id;
      },
      messageIds(folderName) {
        const folder = folderName === undefined ? undefined : folderOrThrow(folderName);
        return [...mailbox.messages.values()]
          .filter((m) => folder === undefined || m.folderId === folder.id)
          .map((m) => m.immutableId);
      },
      message(id) {
        return findMessage(mailbox, id);
      },
      expireDeltaTokens() {
        mailbox.syncGeneration += 1;
      },
    };
  }

  // ---------------------------------------------------------------- rendering

  function renderMessage(
    message: StoredMessage,
    select: string[] | undefined,
    immutable: boolean,
    expand: string | undefined,
  ): Record<string, unknown> {
    const id = immutable ? message.immutableId : restId(message);
    const full: Record<string, unknown> = {
      "@odata.etag": `W/"CQAAABYAAAA${message.changeKey}"`,
      id,
      createdDateTime: message.receivedDateTime.toISOString().replace(".000", ""),
      lastModifiedDateTime: message.lastModifiedDateTime.toISOString().replace(".000", ""),
      changeKey: `CQAAABYAAAA${message.changeKey}`,
      receivedDateTime: message.receivedDateTime.toISOString().replace(".000", ""),
      sentDateTime: message.sentDateTime.toISOString().replace(".000", ""),
      hasAttachments: message.attachments.length > 0,
      internetMessageId: message.internetMessageId ?? null,
      subject: message.subject,
      bodyPreview: (message.text ?? "").slice(0, 255),
      importance: "normal",
      parentFolderId: message.folderId,
      conversationId: message.conversationId,
      conversationIndex: Buffer.from(message.conversationId).toString("base64").slice(0, 30),
      isRead: message.isRead,
      isDraft: false,
      flag: { flagStatus: "notFlagged" },
      sender: emailAddress(message.sender),
      from: emailAddress(message.from),
      toRecipients: message.to.map(emailAddress),
      ccRecipients: message.cc.map(emailAddress),
      bccRecipients: message.bcc.map(emailAddress),
      replyTo: message.replyTo.map(emailAddress),
      body:
        message.html !== undefined
          ? { contentType: "html", content: message.html }
          : { contentType: "text", content: message.text ?? "" },
    };
    let result: Record<string, unknown>;
    if (select === undefined) {
      result = full;
    } else {
      result = { "@odata.etag": full["@odata.etag"], id };
      for (const property of select) {
        if (property === "internetMessageHeaders") {
          if (message.hasInternetHeaders) result.internetMessageHeaders = message.headers;
          continue;
        }
        if (property in full) result[property] = full[property];
      }
    }
    if (expand !== undefined && /singleValueExtendedProperties/i.test(expand) && /0x0?e08/i.test(expand)) {
      result.singleValueExtendedProperties = [
        {
          id: "Integer 0xe08",
          value: String(
            typeof message.mime === "string" ? Buffer.byteLength(message.mime) : message.mime.byteLength,
          ),
        },
      ];
    }
    return result;
  }

  // ---------------------------------------------------------------- auth

  function authenticate(request: Request): string | Response {
    const header = request.headers.get("Authorization") ?? "";
    const token = /^Bearer\s+(.+)$/i.exec(header)?.[1];
    const entry = token === undefined ? undefined : accessTokens.get(token);
    if (!entry || entry.revoked) return faultResponse(graphFaults.invalidAuthenticationToken());
    return entry.user;
  }

  interface Target {
    mailbox: StoredMailbox;
    userPath: string;
    rest: string[];
  }

  function resolveTarget(user: string, segments: string[]): Target | Response {
    const app = user.startsWith("app:") ? user.slice(4) : undefined;
    if (app !== undefined && segments[0]?.toLowerCase() === "me") {
      return graphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.");
    }
    if (app !== undefined && segments[0]?.toLowerCase() === "users" && segments[1] !== undefined) {
      const address = decodeURIComponent(segments[1]).toLowerCase();
      const mailbox = mailboxes.get(address) ?? [...mailboxes.values()].find((m) => m.userId === address);
      if (!mailbox)
        return graphError(404, "ErrorInvalidUser", `The requested user '${segments[1]}' is invalid.`);
      if (!appsWithMailAccess.has(app)) return faultResponse(graphFaults.accessDenied());
      return { mailbox, userPath: `users/${segments[1]}`, rest: segments.slice(2) };
    }
    if (segments[0]?.toLowerCase() === "me") {
      const mailbox = mailboxes.get(user);
      if (!mailbox) return graphError(404, "ErrorInvalidUser", `The requested user '${user}' is invalid.`);
      return { mailbox, userPath: "me", rest: segments.slice(1) };
    }
    if (segments[0]?.toLowerCase() === "users" && segments[1] !== undefined) {
      const address = decodeURIComponent(segments[1]).toLowerCase();
      const mailbox = mailboxes.get(address) ?? [...mailboxes.values()].find((m) => m.userId === address);
      if (!mailbox)
        return graphError(404, "ErrorInvalidUser", `The requested user '${segments[1]}' is invalid.`);
      if (mailbox.address !== user && !mailbox.delegates.has(user))
        return faultResponse(graphFaults.accessDenied());
      return { mailbox, userPath: `users/${segments[1]}`, rest: segments.slice(2) };
    }
    return graphError(400, "BadRequest", "Resource not found for the segment.");
  }

  function folderSegment(segment: string | undefined): string | undefined {
    if (segment === undefined) return undefined;
    const quoted = /^mailFolders\('([^']+)'\)$/i.exec(segment);
    return quoted ? quoted[1] : undefined;
  }

  function classify(method: string, segments: string[]): GraphOperation {
    const lower = segments.map((s) => s.toLowerCase());
    if (lower[0] === "$batch") return "batch";
    if (lower[0] === "subscriptions") {
      if (method === "POST" && lower.length === 1) return "createSubscription";
      if (method === "GET" && lower.length === 1) return "listSubscriptions";
      if (method === "PATCH") return "renewSubscription";
      if (method === "DELETE") return "deleteSubscription";
      if (method === "POST" && lower[2] === "reauthorize") return "reauthorizeSubscription";
      return "unknown";
    }
    const start = lower[0] === "me" ? 1 : lower[0] === "users" ? 2 : -1;
    if (start >= 0 && method === "POST") {
      const posted = lower.slice(start);
      if (posted.length === 1 && posted[0] === "sendmail") return "sendMail";
      if (posted.length === 3 && posted[0] === "messages" && posted[2] === "createreply")
        return "createReply";
      if (posted.length === 3 && posted[0] === "messages" && posted[2] === "send") return "sendDraft";
      return "unknown";
    }
    if (start < 0 || method !== "GET") return "unknown";
    const rest = lower.slice(start);
    if (rest[0] === "messages") {
      if (rest.length === 1) return "listMessages";
      if (rest.length === 2) return "getMessage";
      if (rest.length === 3 && rest[2] === "$value") return "getMime";
      return "unknown";
    }
    if (rest[0] === "mailfolders" || rest[0]?.startsWith("mailfolders(")) {
      const offset = rest[0] === "mailfolders" ? 1 : 0;
      const after = rest.slice(offset + 1);
      if (rest[0] === "mailfolders" && rest.length === 1) return "listFolders";
      if (after.length === 0) return "getFolder";
      if (after[0] === "messages" && after[1] === "delta") return "delta";
      if (after[0] === "messages" && after.length === 1) return "listMessages";
      return "unknown";
    }
    return "unknown";
  }

  function takeFault(operation: GraphOperation): GraphFault | undefined {
    for (const entry of faults) {
      if (entry.remaining <= 0) continue;
      if (entry.operation !== "any" && entry.operation !== operation) continue;
      entry.remaining -= 1;
      return typeof entry.fault === "function" ? entry.fault(clock.now()) : entry.fault;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- routes

  function folderFromRest(target: Target): { folder: StoredFolder | undefined; after: string[] } {
    const [first, second, ...others] = target.rest;
    const quoted = folderSegment(first);
    if (quoted !== undefined)
      return {
        folder: findFolder(target.mailbox, quoted),
        after: [second ?? "", ...others].filter((s) => s !== ""),
      };
    return {
      folder: second === undefined ? undefined : findFolder(target.mailbox, decodeURIComponent(second)),
      after: others,
    };
  }

  function pageResponse(state: RoundState, immutable: boolean, preferApplied: string[]): Response {
    const mailbox = mailboxes.get(state.mailbox);
    if (!mailbox) return faultResponse(graphFaults.itemNotFound());
    const base = `${graphBaseUrl}/v1.0/${state.userPath}/mailFolders('${state.folderId}')/messages/delta`;
    const headers: Record<string, string> =
      preferApplied.length > 0 ? { "Preference-Applied": preferApplied.join(", ") } : {};
    const context = `${graphBaseUrl}/v1.0/$metadata#Collection(message)`;
    if (state.emptyPagesLeft > 0) {
      const token = nextToken("S");
      rounds.set(token, { ...state, emptyPagesLeft: state.emptyPagesLeft - 1 });
      return json(
        { "@odata.context": context, value: [], "@odata.nextLink": `${base}?$skiptoken=${token}` },
        200,
        headers,
      );
    }
    const slice = state.items.slice(state.offset, state.offset + state.pageSize);
    const value = slice.map((id) => {
      const message = mailbox.messages.get(id);
      if (!message || message.folderId !== state.folderId) {
        const removedId = immutable || !message ? id : restId(message);
        return {
          "@odata.type": "#microsoft.graph.message",
          id: removedId,
          "@removed": { reason: "deleted" },
        };
      }
      if (
        quirks.partialUpdates &&
        state.sinceSeq !== undefined &&
        (message.arrivedSeq ?? 0) <= state.sinceSeq
      ) {
        return {
          "@odata.type": "#microsoft.graph.message",
          "@odata.etag": `W/"CQAAABYAAAA${message.changeKey}"`,
          id: immutable ? message.immutableId : restId(message),
          isRead: message.isRead,
          changeKey: `CQAAABYAAAA${message.changeKey}`,
        };
      }
      return {
        "@odata.type": "#microsoft.graph.message",
        ...renderMessage(message, state.select, immutable, state.expand),
      };
    });
    const offset = state.offset + slice.length;
    if (offset < state.items.length) {
      const token = nextToken("S");
      rounds.set(token, { ...state, offset });
      return json(
        { "@odata.context": context, value, "@odata.nextLink": `${base}?$skiptoken=${token}` },
        200,
        headers,
      );
    }
    const token = nextToken("D");
    deltas.set(token, {
      mailbox: state.mailbox,
      folderId: state.folderId,
      userPath: state.userPath,
      generation: state.generation,
      select: state.select,
      expand: state.expand,
      pageSize: state.pageSize,
      seq: Math.max(0, state.endSeq - (quirks.replayOverlap ?? 0)),
    });
    return json(
      { "@odata.context": context, value, "@odata.deltaLink": `${base}?$deltatoken=${token}` },
      200,
      headers,
    );
  }

  function withDuplicates(items: string[]): string[] {
    if (!quirks.duplicateItems || items.length === 0) return items;
    return [...items, ...items.slice(0, Math.ceil(items.length / 2))];
  }

  function handleDelta(target: Target, ctx: Context): Response {
    const { folder } = folderFromRest(target);
    if (!folder) return faultResponse(graphFaults.itemNotFound());
    const mailbox = target.mailbox;
    const prefer = parsePrefer(ctx.request);
    const skipToken = ctx.url.searchParams.get("$skiptoken");
    const deltaToken = ctx.url.searchParams.get("$deltatoken");
    const applied: string[] = [];
    if (prefer.immutableId) applied.push('IdType="ImmutableId"');
    if (skipToken !== null) {
      const state = rounds.get(skipToken);
      if (!state || state.generation !== mailbox.syncGeneration || state.mailbox !== mailbox.address) {
        return faultResponse(graphFaults.syncStateNotFound(clock.now()));
      }
      return pageResponse(state, prefer.immutableId, applied);
    }
    if (deltaToken !== null && deltaToken !== "") {
      const state = deltas.get(deltaToken);
      if (!state || state.generation !== mailbox.syncGeneration || state.mailbox !== mailbox.address) {
        return faultResponse(graphFaults.syncStateNotFound(clock.now()));
      }
      const changed = new Map<string, number>();
      for (const event of folder.log) if (event.seq > state.seq) changed.set(event.messageId, event.seq);
      const items = [...changed.entries()].sort((a, b) => a[1] - b[1]).map(([id]) => id);
      return pageResponse(
        {
          ...state,
          items: withDuplicates(items),
          offset: 0,
          endSeq: mailbox.seq,
          emptyPagesLeft: quirks.emptyPagesPerRound ?? 0,
          sinceSeq: state.seq,
        },
        prefer.immutableId,
        applied,
      );
    }
    const pageSize = Math.min(prefer.maxPageSize ?? defaultPageSize, 1000);
    if (prefer.maxPageSize !== undefined) applied.push(`odata.maxpagesize=${pageSize}`);
    const filter = ctx.url.searchParams.get("$filter");
    let messages = [...mailbox.messages.values()].filter((m) => m.folderId === folder.id);
    if (filter !== null) {
      try {
        messages = messages.filter((m) => matchesFilter(m, filter));
      } catch (error) {
        return graphError(
          400,
          "ErrorInvalidUrlQueryFilter",
          error instanceof Error ? error.message : String(error),
        );
      }
    }
    messages.sort((a, b) => b.receivedDateTime.getTime() - a.receivedDateTime.getTime());
    return pageResponse(
      {
        mailbox: mailbox.address,
        folderId: folder.id,
        userPath: target.userPath,
        generation: mailbox.syncGeneration,
        select: parseSelect(ctx.url),
        expand: ctx.url.searchParams.get("$expand") ?? undefined,
        pageSize,
        items: withDuplicates(messages.map((m) => m.immutableId)),
        offset: 0,
        endSeq: mailbox.seq,
        emptyPagesLeft: quirks.emptyPagesPerRound ?? 0,
      },
      prefer.immutableId,
      applied,
    );
  }

  function handleListMessages(target: Target, ctx: Context): Response {
    const prefer = parsePrefer(ctx.request);
    const skipToken = ctx.url.searchParams.get("$skiptoken");
    let state: ListState;
    if (skipToken !== null) {
      const existing = lists.get(skipToken);
      if (!existing) return graphError(400, "BadRequest", "The skip token is invalid.");
      state = existing;
    } else {
      const search = ctx.url.searchParams.get("$search");
      const filter = ctx.url.searchParams.get("$filter");
      if (search !== null && (filter !== null || ctx.url.searchParams.has("$orderby"))) {
        return graphError(
          400,
          "ErrorInvalidUrlQuery",
          "The query parameter '$orderBy' is invalid with '$search'.",
        );
      }
      let messages = [...target.mailbox.messages.values()];
      const folderPart =
        target.rest[0]?.toLowerCase() === "messages" ? undefined : folderFromRest(target).folder;
      if (target.rest[0]?.toLowerCase() !== "messages") {
        if (!folderPart) return faultResponse(graphFaults.itemNotFound());
        messages = messages.filter((m) => m.folderId === folderPart.id);
      }
      try {
        if (search !== null) messages = messages.filter((m) => matchesSearch(m, search));
        const byProperty = filter === null ? undefined : extendedPropertyFilter(filter);
        if (byProperty)
          messages = messages.filter(
            (m) => extendedProperties.get(m.immutableId)?.get(byProperty.id) === byProperty.value,
          );
        else if (filter !== null) messages = messages.filter((m) => matchesFilter(m, filter));
      } catch (error) {
        return graphError(
          400,
          "ErrorInvalidUrlQueryFilter",
          error instanceof Error ? error.message : String(error),
        );
      }
      messages.sort((a, b) => b.receivedDateTime.getTime() - a.receivedDateTime.getTime());
      if (search !== null) messages = messages.slice(0, options.searchResultLimit ?? 1000);
      state = {
        userPath: target.userPath,
        ids: messages.map((m) => m.immutableId),
        offset: 0,
        pageSize: Math.min(Number(ctx.url.searchParams.get("$top") ?? "10") || 10, 1000),
        select: parseSelect(ctx.url),
        mailbox: target.mailbox.address,
      };
    }
    const slice = state.ids.slice(state.offset, state.offset + state.pageSize);
    const value = slice.flatMap((id) => {
      const message = target.mailbox.messages.get(id);
      return message ? [renderMessage(message, state.select, prefer.immutableId, undefined)] : [];
    });
    const body: Record<string, unknown> = {
      "@odata.context": `${graphBaseUrl}/v1.0/$metadata#users('${target.mailbox.address}')/messages`,
      value,
    };
    const offset = state.offset + slice.length;
    if (offset < state.ids.length) {
      const token = nextToken("L");
      lists.set(token, { ...state, offset });
      body["@odata.nextLink"] = `${graphBaseUrl}/v1.0/${state.userPath}/messages?$skiptoken=${token}`;
    }
    return json(body, 200, prefer.immutableId ? { "Preference-Applied": 'IdType="ImmutableId"' } : {});
  }

  function handleMessage(target: Target, ctx: Context, mime: boolean): Response {
    const id = decodeURIComponent(target.rest[1] ?? "");
    const message = findMessage(target.mailbox, id);
    if (!message) return faultResponse(graphFaults.itemNotFound());
    if (mime) {
      // GET /messages/{id}/$value: the MIME source as bytes, as Graph documents it.
      const bytes =
        typeof message.mime === "string" ? Buffer.from(message.mime, "utf8") : Buffer.from(message.mime);
      return new Response(bytes, {
        status: 200,
        headers: { "Content-Type": "text/plain", "Content-Length": String(bytes.length) },
      });
    }
    const prefer = parsePrefer(ctx.request);
    return json(
      {
        "@odata.context": `${graphBaseUrl}/v1.0/$metadata#users('${target.mailbox.address}')/messages/$entity`,
        ...renderMessage(
          message,
          parseSelect(ctx.url),
          prefer.immutableId,
          ctx.url.searchParams.get("$expand") ?? undefined,
        ),
      },
      200,
      prefer.immutableId ? { "Preference-Applied": 'IdType="ImmutableId"' } : {},
    );
  }

  function handleFolder(target: Target, list: boolean): Response {
    const render = (folder: StoredFolder): Record<string, unknown> => ({
      id: folder.id,
      displayName: folder.displayName,
      parentFolderId: "AAMkAGRoot=",
      childFolderCount: 0,
      unreadItemCount: [...target.mailbox.messages.values()].filter(
        (m) => m.folderId === folder.id && !m.isRead,
      ).length,
      totalItemCount: [...target.mailbox.messages.values()].filter((m) => m.folderId === folder.id).length,
      isHidden: false,
    });
    if (list) return json({ value: [...target.mailbox.folders.values()].map(render) });
    const { folder } = folderFromRest(target);
    if (!folder) return faultResponse(graphFaults.itemNotFound());
    return json(render(folder));
  }

  // ---------------------------------------------------------------- subscriptions

  const resourcePattern =
    /^\/?(me|users\/([^/]+))\/(?:(?:mailFolders\('([^']+)'\)|mailFolders\/([^/]+))\/)?messages\/?$/i;

  async function validateEndpoint(url: string): Promise<boolean> {
    const token = `Validation: Testing client application reachability for subscription Request-Id: ${nextToken("V")}`;
    const target = `${url}${url.includes("?") ? "&" : "?"}validationToken=${encodeURIComponent(token)}`;
    const record: RecordedDelivery = { url: target, kind: "validation", body: undefined, status: undefined };
    deliveries.push(record);
    try {
      const response = await timeout(
        deliver(
          new Request(target, { method: "POST", headers: { "Content-Type": "text/plain; charset=utf-8" } }),
        ),
        validationTimeoutMs,
      );
      record.status = response.status;
      const type = response.headers.get("Content-Type") ?? "";
      const body = await response.text();
      return response.status === 200 && type.startsWith("text/plain") && body === token;
    } catch (error) {
      record.error = error instanceof Error ? error.message : String(error);
      return false;
    }
  }

  function expirationError(requested: Date): Response | Date {
    const minutes = (requested.getTime() - clock.now().getTime()) / 60_000;
    if (Number.isNaN(minutes)) return graphError(400, "InvalidRequest", "expirationDateTime is invalid.");
    if (minutes > 10_070) return faultResponse(graphFaults.subscriptionExpirationTooFar());
    if (minutes <= 0) {
      return graphError(400, "ExtensionError", "Subscription expiration must be in the future.");
    }
    return minutes < 45 ? new Date(clock.now().getTime() + 45 * 60_000) : requested;
  }

  function renderSubscription(subscription: FakeSubscription): Record<string, unknown> {
    return {
      "@odata.context": `${graphBaseUrl}/v1.0/$metadata#subscriptions/$entity`,
      id: subscription.id,
      resource: subscription.resource,
      applicationId: "24d3b144-21ae-4080-943f-7067b395b913",
      changeType: subscription.changeType,
      clientState: subscription.clientState ?? null,
      notificationUrl: subscription.notificationUrl,
      lifecycleNotificationUrl: subscription.lifecycleNotificationUrl ?? null,
      expirationDateTime: subscription.expirationDateTime.toISOString(),
      creatorId: "8ee44408-0679-472c-bc2a-692812af3437",
      latestSupportedTlsVersion: "v1_2",
      notificationContentType: null,
      includeResourceData: null,
    };
  }

  async function handleCreateSubscription(user: string, ctx: Context): Promise<Response> {
    let body: Record<string, unknown>;
    try {
      body = (await ctx.request.json()) as Record<string, unknown>;
    } catch {
      return graphError(400, "BadRequest", "Unable to read JSON request payload.");
    }
    const {
      changeType,
      notificationUrl,
      lifecycleNotificationUrl,
      resource,
      expirationDateTime,
      clientState,
    } = body;
    if (
      typeof changeType !== "string" ||
      typeof notificationUrl !== "string" ||
      typeof resource !== "string" ||
      typeof expirationDateTime !== "string"
    ) {
      return graphError(
        400,
        "InvalidRequest",
        "changeType, notificationUrl, resource and expirationDateTime are required.",
      );
    }
    if (!notificationUrl.startsWith("https://")) {
      return graphError(400, "InvalidRequest", "The Notification Url must be a valid https URL.");
    }
    if (typeof clientState === "string" && clientState.length > 128) {
      return graphError(400, "InvalidRequest", "clientState cannot exceed 128 characters.");
    }
    const match = resourcePattern.exec(resource);
    if (!match) return graphError(400, "ExtensionError", `Unsupported resource '${resource}'.`);
    const segments = match[1]?.toLowerCase() === "me" ? ["me"] : ["users", match[2] ?? ""];
    const target = resolveTarget(user, segments);
    if (target instanceof Response) return target;
    const folderName = match[3] ?? match[4];
    const folder = folderName === undefined ? undefined : findFolder(target.mailbox, folderName);
    if (folderName !== undefined && !folder) return faultResponse(graphFaults.itemNotFound());
    const expiry = expirationError(new Date(expirationDateTime));
    if (expiry instanceof Response) return expiry;
    const urls = [
      notificationUrl,
      ...(typeof lifecycleNotificationUrl === "string" ? [lifecycleNotificationUrl] : []),
    ];
    for (const url of urls) {
      if (!(await validateEndpoint(url))) return faultResponse(graphFaults.subscriptionValidationFailed());
    }
    const subscription: FakeSubscription = {
      id: crypto.randomUUID(),
      resource,
      changeType,
      notificationUrl,
      lifecycleNotificationUrl:
        typeof lifecycleNotificationUrl === "string" ? lifecycleNotificationUrl : undefined,
      clientState: typeof clientState === "string" ? clientState : undefined,
      expirationDateTime: expiry,
      mailbox: target.mailbox.address,
      folderId: folder?.id,
      owner: user,
    };
    subscriptions.set(subscription.id, subscription);
    return json(renderSubscription(subscription), 201);
  }

  async function handleSubscription(
    operation: GraphOperation,
    segments: string[],
    ctx: Context,
  ): Promise<Response> {
    const found = subscriptions.get(segments[1] ?? "");
    // Like Graph, an expired subscription is gone: renewing it is too late.
    if (found && found.expirationDateTime.getTime() <= clock.now().getTime()) subscriptions.delete(found.id);
    const subscription = subscriptions.get(segments[1] ?? "");
    if (!subscription) return graphError(404, "ResourceNotFound", "The object was not found.");
    if (operation === "deleteSubscription") {
      subscriptions.delete(subscription.id);
      return new Response(null, { status: 204 });
    }
    if (operation === "reauthorizeSubscription") return new Response(null, { status: 204 });
    let body: Record<string, unknown>;
    try {
      body = (await ctx.request.json()) as Record<string, unknown>;
    } catch {
      return graphError(400, "BadRequest", "Unable to read JSON request payload.");
    }
    if (typeof body.expirationDateTime !== "string") {
      return graphError(400, "InvalidRequest", "expirationDateTime is required.");
    }
    const expiry = expirationError(new Date(body.expirationDateTime));
    if (expiry instanceof Response) return expiry;
    subscription.expirationDateTime = expiry;
    return json(renderSubscription(subscription));
  }

  // ---------------------------------------------------------------- batch

  async function handleBatch(ctx: Context): Promise<Response> {
    let body: unknown;
    try {
      body = await ctx.request.json();
    } catch {
      return faultResponse(graphFaults.batchMalformed("Unable to read JSON request payload."));
    }
    const list = (body as { requests?: unknown }).requests;
    if (!Array.isArray(list))
      return faultResponse(graphFaults.batchMalformed("Invalid batch payload format."));
    if (list.length > 20) return faultResponse(graphFaults.batchTooLarge());
    const items = list as {
      id?: unknown;
      method?: unknown;
      url?: unknown;
      headers?: Record<string, string>;
      body?: unknown;
      dependsOn?: unknown;
    }[];
    const ids = new Set<string>();
    for (const item of items) {
      if (typeof item.id !== "string" || typeof item.method !== "string" || typeof item.url !== "string") {
        return faultResponse(graphFaults.batchMalformed("Invalid batch payload format."));
      }
      if (ids.has(item.id))
        return faultResponse(graphFaults.batchMalformed("Batch request contains duplicate request ids."));
      ids.add(item.id);
    }
    const results = new Map<
      string,
      { id: string; status: number; headers: Record<string, string>; body?: unknown }
    >();
    const runOne = async (item: (typeof items)[number]): Promise<void> => {
      const id = item.id as string;
      const dependsOn = Array.isArray(item.dependsOn) ? (item.dependsOn as string[]) : [];
      if (dependsOn.some((d) => (results.get(d)?.status ?? 424) >= 400)) {
        results.set(id, {
          id,
          status: 424,
          headers: {},
          body: { error: { code: "FailedDependency", message: "Failed dependency." } },
        });
        return;
      }
      const headers = new Headers(item.headers);
      const auth = ctx.request.headers.get("Authorization");
      if (auth !== null) headers.set("Authorization", auth);
      const relative = (item.url as string).startsWith("/") ? (item.url as string) : `/${item.url as string}`;
      const request = new Request(`${graphBaseUrl}/v1.0${relative}`, {
        method: item.method as string,
        headers,
        ...(item.body === undefined ? {} : { body: JSON.stringify(item.body) }),
      });
      const answered = await route(request, true);
      // A connection drop between Graph and the mailbox surfaces as a gateway failure of that item.
      const response = answered.type === "error" ? faultResponse(graphFaults.serviceUnavailable()) : answered;
      const type = response.headers.get("Content-Type") ?? "";
      const responseHeaders: Record<string, string> = {};
      response.headers.forEach((value, key) => {
        responseHeaders[key] = value;
      });
      let payload: unknown;
      if (response.status === 204) payload = undefined;
      else if (type.includes("json")) payload = await response.json().catch(() => undefined);
      else payload = Buffer.from(await response.arrayBuffer()).toString("base64");
      results.set(id, {
        id,
        status: response.status,
        headers: responseHeaders,
        ...(payload === undefined ? {} : { body: payload }),
      });
    };
    const independent = items.filter((i) => !Array.isArray(i.dependsOn) || i.dependsOn.length === 0);
    const dependent = items.filter((i) => Array.isArray(i.dependsOn) && i.dependsOn.length > 0);
    // Graph forwards up to four requests of a batch at a time to Outlook.
    for (let i = 0; i < independent.length; i += 4)
      await Promise.all(independent.slice(i, i + 4).map(runOne));
    for (const item of dependent) await runOne(item);
    const ordered = items.map((i) => results.get(i.id as string)).filter((r) => r !== undefined);
    if ((options.batchResponseOrder ?? "reverse") === "reverse") ordered.reverse();
    return json({ responses: ordered });
  }

  // ---------------------------------------------------------------- token endpoint

  async function handleToken(request: Request): Promise<Response> {
    const fault = takeFault("token");
    if (fault) return record(request, "token", undefined, false, faultResponse(fault));
    const form = new URLSearchParams(await request.text());
    const entry = refreshTokens.get(form.get("refresh_token") ?? "");
    if (form.get("grant_type") !== "refresh_token" || !entry || entry.revoked) {
      return record(request, "token", undefined, false, faultResponse(graphFaults.invalidGrant()));
    }
    return record(
      request,
      "token",
      undefined,
      false,
      json({
        token_type: "Bearer",
        scope: "https://graph.microsoft.com/Mail.Read https://graph.microsoft.com/Mail.Send",
        expires_in: 3599,
        ext_expires_in: 3599,
        access_token: fake.accessTokenFor(entry.user),
        refresh_token: form.get("refresh_token"),
      }),
    );
  }

  // ---------------------------------------------------------------- router

  function record(
    request: Request,
    operation: GraphOperation,
    mailbox: string | undefined,
    inBatch: boolean,
    response: Response,
  ): Response {
    requests.push({
      method: request.method,
      url: request.url,
      operation,
      status: response.status,
      mailbox,
      prefer: request.headers.get("Prefer") ?? undefined,
      inBatch,
    });
    return response;
  }

  async function route(request: Request, inBatch: boolean): Promise<Response> {
    const url = new URL(request.url);
    const segments = url.pathname
      .split("/")
      .filter((s) => s !== "")
      .slice(1);
    const operation = classify(request.method, segments);
    const ctx: Context = { request, url, inBatch };
    const user = authenticate(request);
    if (user instanceof Response) return record(request, operation, undefined, inBatch, user);
    const fault = takeFault(operation);
    if (fault) return record(request, operation, undefined, inBatch, faultResponse(fault));
    if (operation === "batch") return record(request, operation, undefined, inBatch, await handleBatch(ctx));
    if (operation === "createSubscription")
      return record(request, operation, undefined, inBatch, await handleCreateSubscription(user, ctx));
    if (operation === "listSubscriptions") {
      // Like Graph: the caller's own subscriptions (an application's, or a signed-in user's).
      const now = clock.now().getTime();
      const value = [...subscriptions.values()]
        .filter((s) => s.owner === user && s.expirationDateTime.getTime() > now)
        .map(renderSubscription);
      return record(request, operation, undefined, inBatch, json({ value }));
    }
    if (operation.endsWith("Subscription"))
      return record(
        request,
        operation,
        undefined,
        inBatch,
        await handleSubscription(operation, segments, ctx),
      );
    if (operation === "unknown") {
      return record(
        request,
        operation,
        undefined,
        inBatch,
        graphError(400, "BadRequest", `Unsupported request ${request.method} ${url.pathname}`),
      );
    }
    const target = resolveTarget(user, segments);
    if (target instanceof Response) return record(request, operation, undefined, inBatch, target);
    const address = target.mailbox.address;
    if (requestLimit !== false) {
      const now = clock.now().getTime();
      const recent = (recentRequests.get(address) ?? []).filter((t) => t > now - requestLimit.windowMs);
      recentRequests.set(address, recent);
      if (recent.length >= requestLimit.requests) {
        const waitSeconds = Math.max(1, Math.ceil(((recent[0] ?? now) + requestLimit.windowMs - now) / 1000));
        return record(
          request,
          operation,
          address,
          inBatch,
          faultResponse(graphFaults.tooManyRequests(waitSeconds, clock.now())),
        );
      }
      recent.push(now);
    }
    const current = inFlight.get(address) ?? 0;
    if (current >= maxConcurrent) {
      return record(
        request,
        operation,
        address,
        inBatch,
        faultResponse(graphFaults.applicationThrottled(options.concurrencyRetryAfter)),
      );
    }
    inFlight.set(address, current + 1);
    maxSeen.set(address, Math.max(maxSeen.get(address) ?? 0, current + 1));
    try {
      if ((options.latencyMs ?? 0) > 0)
        await new Promise((resolve) => setTimeout(resolve, options.latencyMs));
      let response: Response;
      switch (operation) {
        case "delta":
          response = handleDelta(target, ctx);
          break;
        case "listMessages":
          response = handleListMessages(target, ctx);
          break;
        case "getMessage":
          response = handleMessage(target, ctx, false);
          break;
        case "getMime":
          response = handleMessage(target, ctx, true);
          break;
        case "getFolder":
          response = handleFolder(target, false);
          break;
        case "sendMail":
          response = await handleSendMail(sendContext(target.mailbox), ctx.request);
          break;
        case "createReply":
          response = await handleCreateReply(
            sendContext(target.mailbox),
            decodeURIComponent(target.rest[1] ?? ""),
            ctx.request,
          );
          break;
        case "sendDraft":
          response = handleSendDraft(sendContext(target.mailbox), decodeURIComponent(target.rest[1] ?? ""));
          break;
        default:
          response = handleFolder(target, true);
      }
      return record(request, operation, address, inBatch, response);
    } finally {
      inFlight.set(address, (inFlight.get(address) ?? 1) - 1);
    }
  }

  async function answer(request: Request): Promise<Response> {
    const response = await route(request, false);
    return response;
  }

  const identity = new MicrosoftIdentityFake({
    tenantId,
    now: () => clock.now().getTime(),
    mintAccessToken: (principal) => {
      const token = nextToken("eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.");
      accessTokens.set(token, {
        user: "app" in principal ? `app:${principal.app}` : principal.user.toLowerCase(),
        revoked: false,
      });
      return token;
    },
  });

  const handlers: RequestHandler[] = [
    http.post(`${microsoftLoginUrl}/:tenant/oauth2/v2.0/token`, async ({ request }) => {
      // Refresh tokens handed out by `issueRefreshToken` keep their simple grant; every other
      // request is the identity platform's (MSAL's grants, with its documented refusals).
      const form = new URLSearchParams(await request.clone().text());
      const legacy =
        form.get("grant_type") === "refresh_token" && refreshTokens.has(form.get("refresh_token") ?? "");
      const response = legacy
        ? await handleToken(request)
        : ((await identity.handle(request)) ?? graphError(404, "NotFound", "Unknown endpoint"));
      return response.status === 0 ? HttpResponse.error() : response;
    }),
    http.get(`${microsoftLoginUrl}/*`, async ({ request }) => {
      return (await identity.handle(request)) ?? graphError(404, "NotFound", "Unknown endpoint");
    }),
    http.all(`${graphBaseUrl}/*`, async ({ request }) => {
      const response = await answer(request);
      return response.status === 0 ? HttpResponse.error() : response;
    }),
  ];

  const fakeFetch: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const response = await getResponse(handlers, request);
    if (!response)
      throw new TypeError(`fetch failed: the Graph fake does not answer ${request.method} ${request.url}`);
    if (response.type === "error" || response.status === 0)
      throw new TypeError("fetch failed: connection reset");
    return response;
  };

  const fake: GraphFake = {
    handlers,
    fetch: fakeFetch,
    addMailbox(address, mailboxOptions = {}) {
      const mailbox = createMailbox(
        address,
        mailboxOptions.displayName ?? address,
        mailboxOptions.delegates ?? [],
      );
      mailboxes.set(mailbox.address, mailbox);
      return handleFor(mailbox);
    },
    mailbox(address) {
      return handleFor(requireMailbox(address));
    },
    accessTokenFor(user) {
      const token = nextToken("eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.");
      accessTokens.set(token, { user: user.toLowerCase(), revoked: false });
      return token;
    },
    revokeAccessTokens(user) {
      for (const entry of accessTokens.values()) if (entry.user === user.toLowerCase()) entry.revoked = true;
    },
    issueRefreshToken(user) {
      const token = nextToken("0.AR");
      refreshTokens.set(token, { user: user.toLowerCase(), revoked: false });
      return token;
    },
    identity,
    grantApplicationAccess(clientId) {
      appsWithMailAccess.add(clientId);
    },
    revokeRefreshTokens(user) {
      for (const entry of refreshTokens.values()) if (entry.user === user.toLowerCase()) entry.revoked = true;
    },
    failNext(count, operation, fault) {
      faults.push({ remaining: count, operation, fault });
    },
    clearFaults() {
      faults.length = 0;
    },
    requests,
    maxConcurrencySeen(address) {
      return maxSeen.get(address.toLowerCase()) ?? 0;
    },
    subscriptions() {
      return [...subscriptions.values()].map((s) => ({ ...s }));
    },
    async emitLifecycleEvent(subscriptionId, event) {
      const subscription = subscriptions.get(subscriptionId);
      if (!subscription) throw new Error(`No subscription ${subscriptionId}`);
      if (subscription.lifecycleNotificationUrl === undefined) {
        throw new Error(
          `Subscription ${subscriptionId} has no lifecycleNotificationUrl; Graph sends no lifecycle events then`,
        );
      }
      if (event === "subscriptionRemoved") subscriptions.delete(subscriptionId);
      return queueDelivery(subscription.lifecycleNotificationUrl, "lifecycle", {
        value: [
          {
            subscriptionId,
            subscriptionExpirationDateTime: subscription.expirationDateTime.toISOString(),
            tenantId,
            clientState: subscription.clientState ?? null,
            lifecycleEvent: event,
          },
        ],
      });
    },
    async flushNotifications() {
      while (pendingDeliveries.size > 0) await Promise.all([...pendingDeliveries]);
    },
    deliveries,
  };
  return fake;
}
