import { getResponse, http, type RequestHandler } from "msw";
import {
  gmailFailures,
  mailSendingLimitFailure,
  type GmailFailure,
  type GmailFailureName,
} from "./failures.js";
import {
  GmailFakeMailbox,
  seededRandom,
  type GmailFakeMessage,
  type GmailHistoryRecord,
  type GmailPushMessage,
  type MailboxHost,
} from "./mailbox.js";
import { addressesIn, headerValue, replaceHeader, splitMessage, toBase64Url } from "./mime.js";
import { compileQuery, parseQuery, queryReachesSpamOrTrash, type QueryNode } from "./query.js";
import { GoogleTokenGrants } from "./token-grants.js";

/** The API methods the fake serves, named as in Google's discovery document. */
export type GmailMethod =
  | "token"
  | "batch"
  | "users.getProfile"
  | "users.watch"
  | "users.stop"
  | "users.history.list"
  | "users.messages.list"
  | "users.messages.get"
  | "users.messages.send"
  | "users.settings.sendAs.list";

/** Quota units per call under the legacy regime (still in force for projects active before May 2026). */
export const legacyGmailCosts: Readonly<Record<GmailMethod, number>> = {
  token: 0,
  batch: 0,
  "users.getProfile": 1,
  "users.watch": 100,
  "users.stop": 1,
  "users.history.list": 2,
  "users.messages.list": 5,
  "users.messages.get": 5,
  "users.messages.send": 100,
  "users.settings.sendAs.list": 1,
};

/** Quota units per call as transcribed for projects created after May 2026 (unconfirmed). */
export const gmail2026Costs: Readonly<Record<GmailMethod, number>> = {
  ...legacyGmailCosts,
  "users.messages.get": 20,
};

/** Options of {@link createGmailFake}. */
export interface GmailFakeOptions {
  /** Time source for quota windows, token expiry, history retention and `after:` terms. */
  clock?: { now(): Date };
  /** Seed for history-id gaps and ids. */
  seed?: number;
  quota?: {
    /** Per-user limit; the legacy 15,000 by default (6,000 for new projects). */
    unitsPerUserPerMinute?: number;
    /** Cost overrides per method. */
    costs?: Partial<Record<GmailMethod, number>>;
    /** Which 403 body a per-user quota breach returns. Default `"legacy"`. */
    regime?: "legacy" | "2026";
    /** Set false to count units without ever refusing. */
    enforce?: boolean;
  };
  /** Batch parts above this many in one batch fail with 429 "Too many concurrent requests for user". Default 40. */
  concurrentRequestsPerUser?: number;
  /** Longer `q` values fail with 400 invalidArgument. Default 8,000 characters. */
  maxQueryLength?: number;
  /** Lifetime of access tokens from the token endpoint. Default 1 hour. */
  accessTokenLifetimeMs?: number;
  /** History records older than this expire. Default 7 days. */
  historyRetentionMs?: number;
  /** Every history.list pass starts with this many empty pages that carry a nextPageToken. Default 0. */
  emptyHistoryPages?: number;
  /** The OAuth client the token endpoint accepts. */
  oauthClient?: { clientId: string; clientSecret: string };
  /** `messages.send` behaviour (see docs/decisions.md, "Sending"). */
  send?: {
    /**
     * Keep the sender's Message-ID. Default false: the API replaces it with its own
     * `<CA…@mail.gmail.com>` id on every send, as Gmail does.
     */
    keepsMessageId?: boolean;
    /** Messages larger than this (decoded bytes) get 413 {@link gmailFailures.messageTooLarge}. Default 35 MB. */
    maxMessageBytes?: number;
    /**
     * Messages a user may send in any 24 hours; the next gets the 429 "(Mail sending)" failure
     * with the time the oldest counted send leaves the window. Default 2,000 (Workspace).
     */
    dailyLimit?: number;
  };
}

/** A scripted fault: a named failure, a custom one, or a function of the request. */
export type GmailFault = GmailFailureName | GmailFailure | ((request: GmailRequest) => GmailFailure);

/** A request as the fake's router sees it (top level or batch part). */
export interface GmailRequest {
  method: string;
  url: URL;
  headers: Headers;
  body: string;
  /** Set for batch parts. */
  inBatch: boolean;
}

/** One served call, for assertions. */
export interface GmailCallRecord {
  method: GmailMethod | "unknown";
  user: string | undefined;
  status: number;
  units: number;
  inBatch: boolean;
  at: number;
  /** Path and query of the call (batch parts included), e.g. `/gmail/v1/users/me/messages/1a?format=raw`. */
  url: string;
}

interface Reply {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

const apiBases = ["https://gmail.googleapis.com", "https://www.googleapis.com"];
const tokenUrl = "https://oauth2.googleapis.com/token";

function json(status: number, value: unknown): Reply {
  return {
    status,
    body: JSON.stringify(value),
    headers: { "content-type": "application/json; charset=UTF-8" },
  };
}

function failureReply(failure: GmailFailure): Reply {
  return {
    status: failure.status,
    body: failure.body,
    headers: { "content-type": "application/json; charset=UTF-8", ...failure.headers },
  };
}

function encodeToken(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function decodeToken<T>(token: string | null): T | undefined {
  if (!token) return undefined;
  try {
    return JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as T;
  } catch {
    return undefined;
  }
}

function clampResults(value: string | null, fallback: number): number {
  const parsed = value === null ? fallback : Number(value);
  if (!Number.isFinite(parsed) || parsed < 1) return fallback;
  return Math.min(500, Math.floor(parsed));
}

/**
 * An in-memory Gmail API: the REST endpoints the clientmail Gmail provider uses, the batch
 * endpoint, the OAuth token endpoint, quota accounting and fault scripting. Use {@link handlers}
 * with msw's `setupServer`, or pass `fetch` to code that takes an injectable fetch.
 */
export class GmailFake {
  /** msw handlers for the Gmail API, the batch endpoint and the OAuth token endpoint. */
  readonly handlers: RequestHandler[];
  /** Every call served (including refused ones), oldest first. */
  readonly calls: GmailCallRecord[] = [];
  /** The OAuth client the token endpoint accepts. */
  readonly oauthClient: { clientId: string; clientSecret: string };

  private readonly clock: { now(): Date };
  private readonly random: () => number;
  private readonly costs: Record<GmailMethod, number>;
  private readonly unitsPerMinute: number;
  private readonly enforceQuota: boolean;
  private readonly regime: "legacy" | "2026";
  private readonly options: GmailFakeOptions;
  private readonly users = new Map<string, GmailFakeMailbox>();
  private readonly refreshTokens = new Map<string, string>();
  private readonly accessTokens = new Map<string, { user: string; expiresAt: number }>();
  private readonly faults = new Map<string, { remaining: number; fault: GmailFault }[]>();
  /** Per user: calls in the current sliding minute (entries before `head` have left it). */
  private readonly spent = new Map<
    string,
    { entries: { at: number; units: number }[]; head: number; units: number }
  >();
  private readonly spentTotal = new Map<string, number>();
  private readonly pushListeners = new Set<(push: GmailPushMessage, user: string) => void>();
  private readonly lastPush = new Map<string, number>();
  /** Per user: when each message counted against the daily sending limit was sent. */
  private readonly sendLog = new Map<string, number[]>();
  private messageCounter = 0;
  private tokenCounter = 0;
  private readonly grants: GoogleTokenGrants;
  private pushCounter = 0;
  private readonly host: MailboxHost;

  constructor(options: GmailFakeOptions = {}) {
    this.options = options;
    this.clock = options.clock ?? { now: () => new Date() };
    this.random = seededRandom(options.seed ?? 20_260_501);
    this.regime = options.quota?.regime ?? "legacy";
    this.costs = { ...(this.regime === "2026" ? gmail2026Costs : legacyGmailCosts), ...options.quota?.costs };
    this.unitsPerMinute = options.quota?.unitsPerUserPerMinute ?? (this.regime === "2026" ? 6_000 : 15_000);
    this.enforceQuota = options.quota?.enforce ?? true;
    this.oauthClient = options.oauthClient ?? {
      clientId: "fake-client-id.apps.googleusercontent.com",
      clientSecret: "fake-client-secret",
    };
    this.host = {
      now: () => this.clock.now().getTime(),
      random: this.random,
      nextMessageId: () => {
        this.messageCounter += 1;
        return (0x18c2a00000000000n + BigInt(this.messageCounter) * 0x1f3n).toString(16);
      },
      notifyChange: (mailbox) => this.publishChange(mailbox),
      historyRetentionMs: options.historyRetentionMs ?? 7 * 86_400_000,
    };
    this.grants = new GoogleTokenGrants({
      now: () => this.clock.now().getTime(),
      hasUser: (user) => this.users.has(user),
      issueAccessToken: (user) => this.issueAccessToken(user),
      issueRefreshToken: (user) => {
        this.tokenCounter += 1;
        const token = `1//fake-refresh-${this.tokenCounter}-${Math.floor(this.random() * 1e9).toString(36)}`;
        this.refreshTokens.set(token, user);
        return token;
      },
    });
    const handle = async ({ request }: { request: Request }) => {
      const reply = await this.handleRequest(request);
      return new Response(reply.body === "" ? null : reply.body, {
        status: reply.status,
        headers: reply.headers,
      });
    };
    this.handlers = [http.post(tokenUrl, handle), ...apiBases.map((base) => http.all(`${base}/*`, handle))];
  }

  /**
   * A `fetch` that answers from this fake without touching the global one (no msw server
   * needed). Requests to other hosts fail with a TypeError, like an unreachable network.
   */
  readonly fetch: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const response = await getResponse(this.handlers, request);
    if (!response) throw new TypeError(`fetch failed: no fake serves ${request.method} ${request.url}`);
    return response;
  };

  // ---------------------------------------------------------------- users and tokens

  /**
   * Creates a mailbox (idempotent: returns the existing one for a known address) and issues a
   * refresh token for it, readable with {@link refreshTokenOf}.
   */
  addUser(address: string): GmailFakeMailbox {
    const key = address.toLowerCase();
    const existing = this.users.get(key);
    if (existing) return existing;
    const mailbox = new GmailFakeMailbox(key, this.host, 1000 + Math.floor(this.random() * 9000));
    this.users.set(key, mailbox);
    this.refreshTokens.set(`1//fake-refresh-${key}`, key);
    return mailbox;
  }

  /** The mailbox of an address; undefined when the fake has no such user. */
  mailbox(address: string): GmailFakeMailbox | undefined {
    return this.users.get(address.toLowerCase());
  }

  /** The refresh token issued to a user; undefined when none is valid (unknown or revoked). */
  refreshTokenOf(address: string): string | undefined {
    const key = address.toLowerCase();
    for (const [token, user] of this.refreshTokens) if (user === key) return token;
    return undefined;
  }

  /** Revokes a user's refresh and access tokens: refreshing then fails with `invalid_grant`. */
  revokeUser(address: string): void {
    const key = address.toLowerCase();
    for (const [token, user] of [...this.refreshTokens]) if (user === key) this.refreshTokens.delete(token);
    for (const [token, entry] of [...this.accessTokens])
      if (entry.user === key) this.accessTokens.delete(token);
  }

  /**
   * What Google's consent screen does when `address` approves the consent URL: an authorization
   * code (once, 10 minutes) bound to the URL's client, redirect URI, scopes and PKCE challenge.
   */
  approveConsent(address: string, consentUrl: URL | string): string {
    return this.grants.approve(address, consentUrl);
  }

  /**
   * Registers a service account (its public key, PEM) for the JWT-bearer grant. `delegatedScopes`:
   * the scopes a Workspace admin granted it domain-wide delegation for; without them every
   * request for a mailbox is `unauthorized_client`.
   */
  addServiceAccount(clientEmail: string, publicKeyPem: string, delegatedScopes?: readonly string[]): void {
    this.grants.addServiceAccount(clientEmail, publicKeyPem, delegatedScopes);
  }

  /** Makes every access token issued so far expire now (the next call gets 401). */
  expireAccessTokens(): void {
    this.accessTokens.clear();
  }

  // ---------------------------------------------------------------- faults and quota

  /**
   * Fails the next `count` calls of `method` (`"*"`: any API method except the token endpoint)
   * with `fault`. Scripts queue up per method and apply to batch parts too.
   */
  failNext(method: GmailMethod | "*", count: number, fault: GmailFault): void {
    const queue = this.faults.get(method) ?? [];
    queue.push({ remaining: count, fault });
    this.faults.set(method, queue);
  }

  /** Drops every scripted fault not yet used. */
  clearFaults(): void {
    this.faults.clear();
  }

  /** Quota units spent (by accepted calls) in total, for one user or all. */
  unitsSpent(address?: string): number {
    if (address !== undefined) return this.spentTotal.get(address.toLowerCase()) ?? 0;
    let total = 0;
    for (const units of this.spentTotal.values()) total += units;
    return total;
  }

  /** Resets the unit counters and the call log (the quota window too). */
  resetUsage(): void {
    this.spent.clear();
    this.spentTotal.clear();
    this.calls.length = 0;
  }

  /** How many calls of a method were served (including failed ones). */
  callCount(method: GmailMethod): number {
    return this.calls.filter((call) => call.method === method).length;
  }

  /** The cost table in force. */
  costOf(method: GmailMethod): number {
    return this.costs[method];
  }

  /** The per-user units-per-minute limit in force. */
  get userQuotaPerMinute(): number {
    return this.unitsPerMinute;
  }

  // ---------------------------------------------------------------- push

  /**
   * Receives the Pub/Sub pushes Gmail would send for watched mailboxes. Like Gmail, at most one
   * notification per user per second is delivered; the excess is dropped.
   */
  onPush(listener: (push: GmailPushMessage, user: string) => void): () => void {
    this.pushListeners.add(listener);
    return () => this.pushListeners.delete(listener);
  }

  private publishChange(mailbox: GmailFakeMailbox): void {
    const watch = mailbox.watch;
    const now = this.clock.now().getTime();
    if (!watch || watch.expiration <= now) return;
    const last = this.lastPush.get(mailbox.address);
    if (last !== undefined && now - last < 1000) return;
    this.lastPush.set(mailbox.address, now);
    this.pushCounter += 1;
    const push: GmailPushMessage = {
      message: {
        data: toBase64Url(
          JSON.stringify({ emailAddress: mailbox.address, historyId: String(mailbox.historyId) }),
        ),
        messageId: String(this.pushCounter),
        publishTime: new Date(now).toISOString(),
      },
      subscription: `${watch.topicName.replace("/topics/", "/subscriptions/")}-push`,
    };
    for (const listener of this.pushListeners) listener(push, mailbox.address);
  }

  // ---------------------------------------------------------------- routing

  private async handleRequest(request: Request): Promise<Reply> {
    const url = new URL(request.url);
    const body = await request.text();
    const gmailRequest: GmailRequest = {
      method: request.method,
      url,
      headers: request.headers,
      body,
      inBatch: false,
    };
    if (request.url.startsWith(tokenUrl))
      return this.serve("token", gmailRequest, undefined, () => this.token(body));
    if (url.pathname === "/batch/gmail/v1" || url.pathname === "/batch") return this.batch(gmailRequest);
    return this.route(gmailRequest);
  }

  private identify(request: GmailRequest): { method: GmailMethod; params: string[] } | undefined {
    const path = request.url.pathname.replace(/^\/gmail\/v1\/users\//, "/");
    if (path === request.url.pathname) return undefined;
    const verb = request.method.toUpperCase();
    const table: [string, RegExp, GmailMethod][] = [
      ["GET", /^\/([^/]+)\/profile$/, "users.getProfile"],
      ["POST", /^\/([^/]+)\/watch$/, "users.watch"],
      ["POST", /^\/([^/]+)\/stop$/, "users.stop"],
      ["GET", /^\/([^/]+)\/history$/, "users.history.list"],
      ["GET", /^\/([^/]+)\/messages$/, "users.messages.list"],
      ["POST", /^\/([^/]+)\/messages\/send$/, "users.messages.send"],
      ["GET", /^\/([^/]+)\/messages\/([^/]+)$/, "users.messages.get"],
      ["GET", /^\/([^/]+)\/settings\/sendAs$/, "users.settings.sendAs.list"],
    ];
    for (const [method, pattern, name] of table) {
      const match = pattern.exec(path);
      if (method === verb && match) return { method: name, params: match.slice(1).map(decodeURIComponent) };
    }
    return undefined;
  }

  private route(request: GmailRequest): Reply {
    const identified = this.identify(request);
    if (!identified) {
      const reply = json(404, { error: { code: 404, message: "Not Found", status: "NOT_FOUND" } });
      this.calls.push({
        method: "unknown",
        user: undefined,
        status: 404,
        units: 0,
        inBatch: request.inBatch,
        at: this.clock.now().getTime(),
        url: request.url.pathname + request.url.search,
      });
      return reply;
    }
    const { method, params } = identified;
    return this.serve(method, request, params, (user) => this.dispatch(method, params, request, user!));
  }

  private takeFault(method: GmailMethod): GmailFault | undefined {
    for (const key of method === "token" ? [method] : [method, "*"]) {
      const queue = this.faults.get(key);
      const entry = queue?.[0];
      if (!queue || !entry) continue;
      entry.remaining -= 1;
      if (entry.remaining <= 0) queue.shift();
      return entry.fault;
    }
    return undefined;
  }

  private serve(
    method: GmailMethod,
    request: GmailRequest,
    params: string[] | undefined,
    run: (user: string | undefined) => Reply,
  ): Reply {
    const now = this.clock.now().getTime();
    let user: string | undefined;
    const record = (reply: Reply, units: number): Reply => {
      this.calls.push({
        method,
        user,
        status: reply.status,
        units,
        inBatch: request.inBatch,
        at: now,
        url: request.url.pathname + request.url.search,
      });
      return reply;
    };
    if (method !== "token") {
      const auth = /^Bearer\s+(.+)$/i.exec(request.headers.get("authorization") ?? "");
      const token = auth ? this.accessTokens.get(auth[1]!.trim()) : undefined;
      if (!token || token.expiresAt <= now) return record(failureReply(gmailFailures.unauthenticated), 0);
      const userId = params?.[0] ?? "me";
      if (userId !== "me" && userId.toLowerCase() !== token.user) {
        return record(
          json(403, {
            error: {
              code: 403,
              message: "Delegation denied for " + token.user,
              errors: [
                { message: "Delegation denied for " + token.user, domain: "global", reason: "forbidden" },
              ],
              status: "PERMISSION_DENIED",
            },
          }),
          0,
        );
      }
      user = token.user;
    }
    const fault = this.takeFault(method);
    if (fault !== undefined) {
      const failure =
        typeof fault === "string"
          ? gmailFailures[fault]
          : typeof fault === "function"
            ? fault(request)
            : fault;
      return record(failureReply(failure), 0);
    }
    const cost = this.costs[method];
    if (user !== undefined && cost > 0) {
      const used = this.unitsInWindow(user, now);
      if (this.enforceQuota && used + cost > this.unitsPerMinute) {
        const body =
          this.regime === "2026"
            ? gmailFailures.quotaExceededUnitsPerUser
            : gmailFailures.quotaExceededQueriesPerUser;
        return record(failureReply(body), 0);
      }
    }
    const reply = run(user);
    // Refused calls (auth, quota, throttling, server errors) cost nothing; client errors do.
    const charged =
      user !== undefined && reply.status < 500 && ![401, 403, 429].includes(reply.status) ? cost : 0;
    if (charged > 0 && user !== undefined) {
      const window = this.spent.get(user) ?? { entries: [], head: 0, units: 0 };
      window.entries.push({ at: now, units: charged });
      window.units += charged;
      this.spent.set(user, window);
      this.spentTotal.set(user, (this.spentTotal.get(user) ?? 0) + charged);
    }
    return record(reply, charged);
  }

  private unitsInWindow(user: string, now: number): number {
    const window = this.spent.get(user);
    if (!window) return 0;
    while (window.head < window.entries.length && window.entries[window.head]!.at <= now - 60_000) {
      window.units -= window.entries[window.head]!.units;
      window.head += 1;
    }
    if (window.head > 4096) {
      window.entries.splice(0, window.head);
      window.head = 0;
    }
    return window.units;
  }

  // ---------------------------------------------------------------- endpoints

  private token(body: string): Reply {
    const form = new URLSearchParams(body);
    const grantType = form.get("grant_type");
    // The JWT-bearer grant authenticates with the service account's signature, not a secret.
    if (this.grants.isJwtBearer(grantType)) return this.grants.token(form);
    if (
      form.get("client_id") !== this.oauthClient.clientId ||
      form.get("client_secret") !== this.oauthClient.clientSecret
    ) {
      return failureReply(gmailFailures.invalidClient);
    }
    if (this.grants.serves(grantType)) return this.grants.token(form);
    if (grantType !== "refresh_token") {
      return json(400, {
        error: "unsupported_grant_type",
        error_description: "Invalid grant_type: " + String(form.get("grant_type")),
      });
    }
    const user = this.refreshTokens.get(form.get("refresh_token") ?? "");
    if (user === undefined) return failureReply(gmailFailures.invalidGrant);
    const { accessToken, expiresIn } = this.issueAccessToken(user);
    return json(200, {
      access_token: accessToken,
      expires_in: expiresIn,
      scope: "https://www.googleapis.com/auth/gmail.modify",
      token_type: "Bearer",
    });
  }

  private issueAccessToken(user: string): { accessToken: string; expiresIn: number } {
    this.tokenCounter += 1;
    const accessToken = `ya29.fake-${this.tokenCounter}-${Math.floor(this.random() * 1e9).toString(36)}`;
    const lifetime = this.options.accessTokenLifetimeMs ?? 3_600_000;
    this.accessTokens.set(accessToken, { user, expiresAt: this.clock.now().getTime() + lifetime });
    return { accessToken, expiresIn: Math.floor(lifetime / 1000) - 1 };
  }

  private dispatch(method: GmailMethod, params: string[], request: GmailRequest, user: string): Reply {
    const mailbox = this.users.get(user);
    if (!mailbox) return failureReply(gmailFailures.notFound);
    const query = request.url.searchParams;
    switch (method) {
      case "users.getProfile":
        return json(200, {
          emailAddress: mailbox.address,
          messagesTotal: mailbox.messages.size,
          threadsTotal: new Set([...mailbox.messages.values()].map((message) => message.threadId)).size,
          historyId: String(mailbox.historyId),
        });
      case "users.history.list":
        return this.historyList(mailbox, query);
      case "users.messages.list":
        return this.messagesList(mailbox, query);
      case "users.messages.get":
        return this.messagesGet(mailbox, params[1]!, query);
      case "users.messages.send":
        return this.messagesSend(mailbox, request.body);
      case "users.watch":
        return this.watch(mailbox, request.body);
      case "users.stop":
        mailbox.watch = undefined;
        return { status: 204, body: "" };
      case "users.settings.sendAs.list":
        return json(200, { sendAs: mailbox.sendAs });
      default:
        return failureReply(gmailFailures.notFound);
    }
  }

  private historyList(mailbox: GmailFakeMailbox, query: URLSearchParams): Reply {
    const startText = query.get("startHistoryId");
    if (startText === null || !/^\d+$/.test(startText))
      return failureReply(gmailFailures.invalidStartHistoryId);
    const start = Number(startText);
    if (start < mailbox.oldestValidHistoryId) return failureReply(gmailFailures.notFound);
    const types = query.getAll("historyTypes");
    const labelId = query.get("labelId");
    const maxResults = clampResults(query.get("maxResults"), 100);
    const page = decodeToken<{ after: number; empty: number }>(query.get("pageToken")) ?? {
      after: start,
      empty: this.options.emptyHistoryPages ?? 0,
    };
    const current = String(mailbox.historyId);
    const records: GmailHistoryRecord[] = [];
    for (const entry of mailbox.history) {
      if (entry.numericId <= page.after) continue;
      const filtered = this.filterRecord(entry.record, types, labelId);
      if (filtered) records.push(filtered);
    }
    if (records.length === 0) return json(200, { historyId: current });
    if (page.empty > 0) {
      return json(200, {
        nextPageToken: encodeToken({ after: page.after, empty: page.empty - 1 }),
        historyId: current,
      });
    }
    const slice = records.slice(0, maxResults);
    const result: Record<string, unknown> = { history: slice, historyId: current };
    if (records.length > maxResults) {
      result.nextPageToken = encodeToken({ after: Number(slice[slice.length - 1]!.id), empty: 0 });
    }
    return json(200, result);
  }

  private filterRecord(
    record: GmailHistoryRecord,
    types: string[],
    labelId: string | null,
  ): GmailHistoryRecord | undefined {
    const wanted = (type: string) => types.length === 0 || types.includes(type);
    const withLabel = <T extends { message: { labelIds?: string[] } }>(
      items: T[] | undefined,
    ): T[] | undefined => {
      if (!items) return undefined;
      const kept =
        labelId === null ? items : items.filter((item) => item.message.labelIds?.includes(labelId));
      return kept.length > 0 ? kept : undefined;
    };
    const out: GmailHistoryRecord = { id: record.id, messages: record.messages };
    const added = wanted("messageAdded") ? withLabel(record.messagesAdded) : undefined;
    const deleted = wanted("messageDeleted") ? withLabel(record.messagesDeleted) : undefined;
    const labelsAdded = wanted("labelAdded") ? withLabel(record.labelsAdded) : undefined;
    const labelsRemoved = wanted("labelRemoved") ? withLabel(record.labelsRemoved) : undefined;
    if (added) out.messagesAdded = added;
    if (deleted) out.messagesDeleted = deleted;
    if (labelsAdded) out.labelsAdded = labelsAdded;
    if (labelsRemoved) out.labelsRemoved = labelsRemoved;
    if (!added && !deleted && !labelsAdded && !labelsRemoved) {
      // Gmail still lists records of other types unless historyTypes narrows them out.
      return types.length === 0 && labelId === null ? out : undefined;
    }
    return out;
  }

  private messagesList(mailbox: GmailFakeMailbox, query: URLSearchParams): Reply {
    const q = query.get("q") ?? "";
    if (q.length > (this.options.maxQueryLength ?? 8000)) return failureReply(gmailFailures.invalidQuery);
    const labelIds = query.getAll("labelIds");
    const includeSpamTrash = query.get("includeSpamTrash") === "true";
    const maxResults = clampResults(query.get("maxResults"), 100);
    const node: QueryNode | undefined = q.trim() === "" ? undefined : parseQuery(q);
    const matches = node === undefined ? undefined : compileQuery(node);
    const reachesSpamTrash = includeSpamTrash || (node !== undefined && queryReachesSpamOrTrash(node));
    const cursor = decodeToken<{ date: number; id: string }>(query.get("pageToken"));
    const now = this.clock.now().getTime();
    const matched: GmailFakeMessage[] = [];
    let total = 0;
    for (const message of mailbox.listOrder()) {
      if (!reachesSpamTrash && (message.labelIds.includes("SPAM") || message.labelIds.includes("TRASH")))
        continue;
      if (!labelIds.every((label) => message.labelIds.includes(label))) continue;
      if (
        matches !== undefined &&
        !matches({
          headers: message.headers,
          labelIds: message.labelIds,
          labelNames: mailbox.labelNames,
          internalDate: message.internalDate,
          text: message.text,
          hasAttachment: message.hasAttachment,
          now,
        })
      ) {
        continue;
      }
      total += 1;
      if (
        cursor &&
        (message.internalDate > cursor.date ||
          (message.internalDate === cursor.date && message.id >= cursor.id))
      )
        continue;
      if (matched.length <= maxResults) matched.push(message);
    }
    if (matched.length === 0) return json(200, { resultSizeEstimate: 0 });
    const page = matched.slice(0, maxResults);
    const result: Record<string, unknown> = {
      messages: page.map((message) => ({ id: message.id, threadId: message.threadId })),
      resultSizeEstimate: total,
    };
    if (matched.length > maxResults) {
      const last = page[page.length - 1]!;
      result.nextPageToken = encodeToken({ date: last.internalDate, id: last.id });
    }
    return json(200, result);
  }

  private messagesGet(mailbox: GmailFakeMailbox, id: string, query: URLSearchParams): Reply {
    const message = mailbox.messages.get(id);
    if (!/^[0-9a-f]+$/i.test(id)) {
      return json(400, {
        error: {
          code: 400,
          message: "Invalid id value",
          errors: [{ message: "Invalid id value", domain: "global", reason: "invalidArgument" }],
          status: "INVALID_ARGUMENT",
        },
      });
    }
    if (!message) return failureReply(gmailFailures.notFound);
    const format = (query.get("format") ?? "full").toLowerCase();
    const base = {
      id: message.id,
      threadId: message.threadId,
      labelIds: message.labelIds,
      snippet: splitMessage(message.raw.toString("utf8")).body.replace(/\s+/g, " ").trim().slice(0, 100),
      sizeEstimate: message.sizeEstimate,
      historyId: String(message.historyId),
      internalDate: String(message.internalDate),
    };
    switch (format) {
      case "minimal":
        return json(200, base);
      case "raw":
        return json(200, { ...base, raw: toBase64Url(message.raw) });
      case "metadata": {
        const wanted = query.getAll("metadataHeaders").map((name) => name.toLowerCase());
        const headers =
          wanted.length === 0
            ? message.headers
            : message.headers.filter((h) => wanted.includes(h.name.toLowerCase()));
        const contentType = headerValue(message.headers, "Content-Type") ?? "text/plain";
        return json(200, {
          ...base,
          payload: { mimeType: (contentType.split(";")[0] ?? "").trim().toLowerCase(), headers },
        });
      }
      case "full":
        return json(200, { ...base, payload: mailbox.payloadOf(message) });
      default:
        return json(400, {
          error: {
            code: 400,
            message: `Invalid value at 'format' (type.googleapis.com/google.apps.gmail.v1.Format), "${format}"`,
            errors: [{ message: "Invalid value", domain: "global", reason: "invalid" }],
            status: "INVALID_ARGUMENT",
          },
        });
    }
  }

  private messagesSend(mailbox: GmailFakeMailbox, body: string): Reply {
    let input: { raw?: string; threadId?: string };
    try {
      input = JSON.parse(body) as { raw?: string; threadId?: string };
    } catch {
      input = {};
    }
    const invalid = (message: string) =>
      json(400, {
        error: {
          code: 400,
          message,
          errors: [{ message, domain: "global", reason: "invalidArgument" }],
          status: "INVALID_ARGUMENT",
        },
      });
    if (!input.raw)
      return invalid("'raw' RFC822 payload message string or uploading message via /upload/* URL required");
    const now = this.clock.now().getTime();
    const sentToday = (this.sendLog.get(mailbox.address) ?? []).filter((at) => at > now - 86_400_000);
    this.sendLog.set(mailbox.address, sentToday);
    if (sentToday.length >= (this.options.send?.dailyLimit ?? 2_000))
      return failureReply(mailSendingLimitFailure(new Date(sentToday[0]! + 86_400_000)));
    // One char per byte, so header edits below keep the body's bytes as they were sent.
    let raw = Buffer.from(input.raw.replace(/\+/g, "-").replace(/\//g, "_"), "base64url").toString("latin1");
    if (raw.length > (this.options.send?.maxMessageBytes ?? 35 * 1024 * 1024))
      return failureReply(gmailFailures.messageTooLarge);
    const { headerText } = splitMessage(raw);
    const headers = splitHeaders(unfold(Buffer.from(headerText, "latin1").toString("utf8")));
    const recipients = ["To", "Cc", "Bcc"].flatMap((name) => addressesIn(headerValue(headers, name)));
    if (recipients.length === 0) return failureReply(gmailFailures.recipientAddressRequired);
    // An address Gmail cannot deliver to by its form (a `.invalid` domain stands for one here).
    if (
      recipients.some(
        (address) => !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(address) || address.endsWith(".invalid"),
      )
    )
      return failureReply(gmailFailures.invalidToHeader);
    // A From that is not an accepted alias is silently rewritten to the primary address.
    const from = addressesIn(headerValue(headers, "From"))[0];
    const accepted = mailbox.sendAs
      .filter((alias) => alias.verificationStatus !== "pending")
      .map((alias) => alias.sendAsEmail);
    if (from === undefined || !accepted.includes(from)) raw = replaceHeader(raw, "From", mailbox.address);
    // The API replaces the sender's Message-ID (lieer#198, flowcrypt-browser#4273).
    if (headerValue(headers, "Message-ID") === undefined || this.options.send?.keepsMessageId !== true) {
      raw = replaceHeader(
        raw,
        "Message-ID",
        `<CA+${Math.floor(this.random() * 36 ** 10).toString(36)}${Math.floor(this.random() * 36 ** 10).toString(36)}@mail.gmail.com>`,
      );
    }
    if (headerValue(headers, "Date") === undefined)
      raw = replaceHeader(raw, "Date", this.clock.now().toUTCString());
    const threadId =
      input.threadId !== undefined && mailbox.messages.size > 0
        ? this.joinThread(mailbox, raw, input.threadId)
        : undefined;
    sentToday.push(now);
    const sent = mailbox.addMessage({
      raw: Buffer.from(raw, "latin1"),
      labelIds: ["SENT"],
      internalDate: this.clock.now(),
      ...(threadId ? { threadId } : {}),
    });
    for (const recipient of new Set(recipients)) {
      const other = this.users.get(recipient);
      if (other && other !== mailbox)
        other.addMessage({
          raw: Buffer.from(replaceHeader(raw, "Bcc", "").replace(/^Bcc: \r?\n/im, ""), "latin1"),
          internalDate: this.clock.now(),
        });
    }
    return json(200, { id: sent.id, threadId: sent.threadId, labelIds: sent.labelIds });
  }

  /** Gmail threads a sent message only if the thread id, the references and the subject all agree. */
  private joinThread(mailbox: GmailFakeMailbox, raw: string, threadId: string): string | undefined {
    const headers = splitHeaders(
      unfold(Buffer.from(splitMessage(raw).headerText, "latin1").toString("utf8")),
    );
    const references =
      `${headerValue(headers, "References") ?? ""} ${headerValue(headers, "In-Reply-To") ?? ""}`.toLowerCase();
    const subject = (headerValue(headers, "Subject") ?? "")
      .replace(/^(re|fwd?):\s*/i, "")
      .trim()
      .toLowerCase();
    for (const message of mailbox.messages.values()) {
      if (message.threadId !== threadId) continue;
      const messageId = (headerValue(message.headers, "Message-ID") ?? "").toLowerCase();
      const theirSubject = (headerValue(message.headers, "Subject") ?? "")
        .replace(/^(re|fwd?):\s*/i, "")
        .trim()
        .toLowerCase();
      if (messageId !== "" && references.includes(messageId) && theirSubject === subject) return threadId;
    }
    return undefined;
  }

  private watch(mailbox: GmailFakeMailbox, body: string): Reply {
    let input: { topicName?: string; labelIds?: string[]; labelFilterBehavior?: "INCLUDE" | "EXCLUDE" } = {};
    try {
      input = JSON.parse(body) as typeof input;
    } catch {
      // an empty body is reported below as a missing topic
    }
    if (!input.topicName || !/^projects\/[^/]+\/topics\/[^/]+$/.test(input.topicName)) {
      return json(400, {
        error: {
          code: 400,
          message: "Invalid topicName does not match projects/*/topics/*",
          errors: [
            {
              message: "Invalid topicName does not match projects/*/topics/*",
              domain: "global",
              reason: "invalidArgument",
            },
          ],
          status: "INVALID_ARGUMENT",
        },
      });
    }
    const expiration = this.clock.now().getTime() + 7 * 86_400_000;
    mailbox.watch = {
      topicName: input.topicName,
      labelIds: input.labelIds ?? [],
      labelFilterBehavior: input.labelFilterBehavior ?? "INCLUDE",
      expiration,
    };
    return json(200, { historyId: String(mailbox.historyId), expiration: String(expiration) });
  }

  // ---------------------------------------------------------------- batch

  private batch(request: GmailRequest): Reply {
    const contentType = request.headers.get("content-type") ?? "";
    const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
    const badRequest = (message: string) =>
      json(400, {
        error: {
          code: 400,
          message,
          errors: [{ message, domain: "global", reason: "badRequest" }],
          status: "INVALID_ARGUMENT",
        },
      });
    if (!contentType.toLowerCase().startsWith("multipart/mixed") || !boundary)
      return badRequest("Batch requests must be multipart/mixed.");
    const parts = request.body
      .split(`--${boundary}`)
      .slice(1)
      .filter((part) => !part.startsWith("--"));
    if (parts.length > 100) return badRequest("Too many requests in batch. The limit is 100.");
    const limit = this.options.concurrentRequestsPerUser ?? 40;
    const responseBoundary = `batch_${Math.floor(this.random() * 1e12).toString(36)}`;
    const out: string[] = [];
    parts.forEach((part, index) => {
      const { headerText: partHeaderText, body: inner } = splitMessage(part.replace(/^\r?\n/, ""));
      const contentId =
        headerValue(splitHeaders(partHeaderText), "Content-ID")?.replace(/^<|>$/g, "") ?? String(index + 1);
      const { headerText: requestHead, body: innerBody } = splitMessage(inner);
      const [requestLine = "", ...headerLines] = requestHead.split(/\r?\n/);
      const [verb = "GET", target = "/"] = requestLine.trim().split(/\s+/);
      const headers = new Headers();
      for (const header of splitHeaders(headerLines.join("\n"))) headers.set(header.name, header.value);
      const authorization = request.headers.get("authorization");
      if (!headers.has("authorization") && authorization) headers.set("authorization", authorization);
      const innerRequest: GmailRequest = {
        method: verb,
        url: new URL(target, "https://gmail.googleapis.com"),
        headers,
        body: innerBody.trim(),
        inBatch: true,
      };
      const reply =
        index >= limit
          ? this.serve(this.identify(innerRequest)?.method ?? "batch", innerRequest, undefined, () =>
              failureReply(gmailFailures.tooManyConcurrentRequests),
            )
          : this.route(innerRequest);
      out.push(
        [
          `--${responseBoundary}`,
          "Content-Type: application/http",
          `Content-ID: <response-${contentId}>`,
          "",
          `HTTP/1.1 ${reply.status} ${statusText(reply.status)}`,
          "Content-Type: application/json; charset=UTF-8",
          "",
          reply.body,
        ].join("\r\n"),
      );
    });
    out.push(`--${responseBoundary}--`, "");
    return {
      status: 200,
      body: out.join("\r\n"),
      headers: { "content-type": `multipart/mixed; boundary=${responseBoundary}` },
    };
  }
}

/** Joins folded header lines (RFC 5322 §2.2.3). */
function unfold(text: string): string {
  return text.replace(/\r?\n(?=[ \t])/g, "");
}

function splitHeaders(text: string): { name: string; value: string }[] {
  const headers: { name: string; value: string }[] = [];
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
  }
  return headers;
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
  };
  return texts[status] ?? "Error";
}

/** Creates an in-memory Gmail API; see {@link GmailFake}. */
export function createGmailFake(options: GmailFakeOptions = {}): GmailFake {
  return new GmailFake(options);
}
