/**
 * Filing (F1–F7): which messages are client mail, in which accounts they are filed, their
 * direction, and their identity across mailboxes. A decision reads only envelopes, so nothing of
 * a message that is not filed ever needs to be fetched.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import type { EmailAddress, ProviderEnvelope } from "./envelope.js";
import { erasureTombstone } from "./erasure.js";
import type { AccountId, FirmId, LinkId } from "./model.js";

/** A link with email sync on, as the directory keeps it. */
export interface SyncedLink {
  linkId: LinkId;
  accountId: AccountId;
}

/** The facts a {@link FirmDirectory} is built from. Addresses must be normalised. */
export interface DirectorySource {
  /** F2: every team member's address and every connected mailbox address (shared ones included). */
  internalAddresses: Iterable<string>;
  /** F2: domains the firm declares as its own. */
  internalDomains: Iterable<string>;
  /** Links; only those with email sync on are kept (F1, F7). */
  links: Iterable<{ id: LinkId; accountId: AccountId; email: string; emailSync: boolean }>;
  /**
   * R10: the tombstones of erased addresses (see `erasureTombstone`) and the firm they are bound
   * to. A message with an erased participant is never filed.
   */
  erased?: { firmId: FirmId; tombstones: Iterable<string> } | undefined;
}

const noLinks: readonly SyncedLink[] = Object.freeze([]);

/**
 * A firm's address book for filing, indexed so that a decision costs one hash lookup per
 * participant, whatever the number of links. Kept up to date incrementally when toggles change.
 */
export class FirmDirectory {
  private readonly internal = new Set<string>();
  private readonly domains = new Set<string>();
  private readonly synced = new Map<string, SyncedLink[]>();
  private erasedFirm: FirmId | undefined;
  private readonly tombstones = new Set<string>();
  /** Addresses already hashed against the tombstones: an address costs one hash per directory. */
  private readonly erasedByAddress = new Map<string, boolean>();

  static build(source: DirectorySource): FirmDirectory {
    const directory = new FirmDirectory();
    if (source.erased) {
      directory.erasedFirm = source.erased.firmId;
      for (const tombstone of source.erased.tombstones) directory.tombstones.add(tombstone);
    }
    for (const address of source.internalAddresses) directory.internal.add(address);
    for (const domain of source.internalDomains) directory.domains.add(domain);
    for (const link of source.links)
      if (link.emailSync) directory.addSyncedLink(link.email, link.id, link.accountId);
    return directory;
  }

  /** F2: true for the firm's own addresses and any address at one of its domains. */
  isInternal(address: string): boolean {
    if (this.internal.has(address)) return true;
    if (this.domains.size === 0) return false;
    return this.domains.has(address.slice(address.lastIndexOf("@") + 1));
  }

  /** The sync-on links of an address; empty for internal addresses (F2). */
  syncedLinksOf(address: string): readonly SyncedLink[] {
    const links = this.synced.get(address);
    if (!links || this.isInternal(address)) return noLinks;
    return links;
  }

  /** R10: true when the address belongs to an erased contact of the firm. */
  isErased(address: string): boolean {
    if (this.tombstones.size === 0 || this.erasedFirm === undefined) return false;
    let erased = this.erasedByAddress.get(address);
    if (erased === undefined) {
      erased = this.tombstones.has(erasureTombstone(this.erasedFirm, address));
      this.erasedByAddress.set(address, erased);
    }
    return erased;
  }

  /** True when the firm has erased anyone: only then do decisions check participants (R10). */
  get hasErasures(): boolean {
    return this.tombstones.size > 0;
  }

  /** Every address that currently has email sync on in some link. */
  syncedAddresses(): IterableIterator<string> {
    return this.synced.keys();
  }

  /** Adds an internal address (a new team member or mailbox). */
  addInternalAddress(address: string): void {
    this.internal.add(address);
  }

  /** Records that a link now has email sync on (T7). Idempotent. */
  addSyncedLink(email: string, linkId: LinkId, accountId: AccountId): void {
    const links = this.synced.get(email);
    if (!links) this.synced.set(email, [{ linkId, accountId }]);
    else if (!links.some((link) => link.linkId === linkId)) links.push({ linkId, accountId });
  }

  /** Records that a link no longer has email sync on, or was deleted (F7). Idempotent. */
  removeSyncedLink(email: string, linkId: LinkId): void {
    const links = this.synced.get(email);
    if (!links) return;
    const rest = links.filter((link) => link.linkId !== linkId);
    if (rest.length === 0) this.synced.delete(email);
    else this.synced.set(email, rest);
  }
}

/** F6. */
export type Direction = "inbound" | "outbound";

/** One participant that made a message client mail. */
export interface FilingMatch {
  address: string;
  linkId: LinkId;
  accountId: AccountId;
}

/** The outcome of {@link decideFiling}. */
export type FilingDecision =
  | { filed: false; reason: "all_internal" | "no_synced_client" | "erased" }
  | { filed: true; direction: Direction; accountIds: AccountId[]; matches: FilingMatch[] };

const notFiledInternal: FilingDecision = Object.freeze({ filed: false, reason: "all_internal" });
const notFiledNoClient: FilingDecision = Object.freeze({ filed: false, reason: "no_synced_client" });
const notFiledErased: FilingDecision = Object.freeze({ filed: false, reason: "erased" });

/** The participant fields of an envelope that filing reads. */
export type Participants = Pick<ProviderEnvelope, "from" | "sender" | "replyTo" | "to" | "cc" | "bcc">;

/**
 * Decides whether a message is filed (F1), where (F4), and its direction (F6).
 * F1: filed iff an external participant (From, Sender, Reply-To, To, Cc, Bcc) has a sync-on link.
 * F2/F3: internal addresses never match, so mail among team members is never filed.
 * F4: filed into every account with a matching link. Addresses must be normalised.
 * R10: a message with an erased contact's address among its participants is never filed.
 */
export function decideFiling(directory: FirmDirectory, envelope: Participants): FilingDecision {
  const scan: Scan = { matches: undefined, anyExternal: false };
  scanList(directory, envelope.from, scan);
  scanList(directory, envelope.sender, scan);
  scanList(directory, envelope.replyTo, scan);
  scanList(directory, envelope.to, scan);
  scanList(directory, envelope.cc, scan);
  scanList(directory, envelope.bcc, scan);
  const matches = scan.matches;
  if (!matches) return scan.anyExternal ? notFiledNoClient : notFiledInternal;
  if (directory.hasErasures && hasErasedParticipant(directory, envelope)) return notFiledErased;
  const accountIds: AccountId[] = [];
  for (const match of matches) if (!accountIds.includes(match.accountId)) accountIds.push(match.accountId);
  return { filed: true, direction: directionOf(directory, envelope), accountIds, matches };
}

function hasErasedParticipant(directory: FirmDirectory, envelope: Participants): boolean {
  for (const list of [
    envelope.from,
    envelope.sender,
    envelope.replyTo,
    envelope.to,
    envelope.cc,
    envelope.bcc,
  ])
    for (const participant of list) if (directory.isErased(participant.address)) return true;
  return false;
}

interface Scan {
  matches: FilingMatch[] | undefined;
  anyExternal: boolean;
}

function scanList(directory: FirmDirectory, list: readonly EmailAddress[], scan: Scan): void {
  for (let i = 0; i < list.length; i++) {
    const address = list[i]!.address;
    const links = directory.syncedLinksOf(address);
    if (links.length === 0) {
      // Whether anyone external took part only matters for the reason of a "not filed".
      if (!scan.anyExternal && !directory.isInternal(address)) scan.anyExternal = true;
      continue;
    }
    scan.anyExternal = true;
    const matches = (scan.matches ??= []);
    for (const link of links) {
      if (!matches.some((m) => m.linkId === link.linkId))
        matches.push({ address, linkId: link.linkId, accountId: link.accountId });
    }
  }
}

/** F6: outbound when the sender (From, else Sender) is internal; inbound otherwise. */
export function directionOf(
  directory: FirmDirectory,
  envelope: Pick<ProviderEnvelope, "from" | "sender">,
): Direction {
  const sender = envelope.from[0] ?? envelope.sender[0];
  return sender && directory.isInternal(sender.address) ? "outbound" : "inbound";
}

/**
 * Removes RFC 5322 comments (`(...)`, nested, with `\` escapes) outside `<...>`; text inside angle
 * brackets is kept as it is, because `(` and `)` are ordinary characters of an id there and
 * `<part(1)@x>` and `<part(2)@x>` are two messages. A comment that never closes is kept as text.
 */
function stripCommentsOutsideBrackets(raw: string): string {
  let out = "";
  let depth = 0;
  let commentStart = 0;
  let inBrackets = false;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (depth > 0) {
      if (ch === "\\") i++;
      else if (ch === "(") depth++;
      else if (ch === ")" && --depth === 0) out += " ";
      continue;
    }
    if (inBrackets) {
      if (ch === ">") inBrackets = false;
    } else if (ch === "<") inBrackets = true;
    else if (ch === "(") {
      depth = 1;
      commentStart = i;
      continue;
    }
    out += ch;
  }
  return depth > 0 ? out + raw.slice(commentStart) : out;
}

/**
 * F5: normalises a Message-ID: the first `<...>` token if there is one, without brackets and
 * whitespace, lower-cased. Comments are dropped only outside the brackets (see
 * {@link parseMessageIdList}); inside, every character belongs to the id. Undefined for an
 * empty or missing id.
 */
export function normalizeMessageId(raw: string | undefined | null): string | undefined {
  if (!raw) return undefined;
  const text = stripCommentsOutsideBrackets(raw);
  const bracketed = /<([^<>]*)>/.exec(text);
  const id = (bracketed ? bracketed[1]! : text).replace(/\s+/g, "").toLowerCase();
  return id.length > 0 && id.length <= 998 ? id : undefined;
}

/**
 * Parses a References or In-Reply-To header into normalised ids, in order, without duplicates.
 * Comments outside the brackets are dropped first, so an id quoted in a comment is not a link.
 */
export function parseMessageIdList(raw: string | undefined | null): string[] {
  if (!raw) return [];
  const text = stripCommentsOutsideBrackets(raw);
  const tokens = text.match(/<[^<>]*>/g) ?? text.split(/[\s,]+/);
  const ids: string[] = [];
  for (const token of tokens) {
    const id = normalizeMessageId(token);
    if (id && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

/** The content the fallback identity hashes when a message has no Message-ID (F5). */
export interface IdentityContent {
  from: readonly EmailAddress[];
  to: readonly EmailAddress[];
  cc: readonly EmailAddress[];
  date: Date;
  subject: string;
  body: string;
}

/**
 * F5: the identity of a message within a firm: `mid:<normalised Message-ID>`, or, when there is
 * none, `sha256:<hash of from, sorted recipients, date, subject, body>`. Stable across mailboxes
 * and providers; the recipients are sorted so their order in the header does not matter.
 */
export function dedupeKey(messageId: string | undefined, content: IdentityContent): string {
  const normalized = normalizeMessageId(messageId);
  if (normalized) return `mid:${normalized}`;
  const recipients = [...content.to, ...content.cc].map((a) => a.address).sort();
  const canonical = [
    content.from.map((a) => a.address).join(","),
    recipients.join(","),
    Math.floor(content.date.getTime() / 1000).toString(),
    content.subject.replace(/\s+/g, " ").trim(),
    content.body.replace(/\r\n/g, "\n").trim(),
  ].join("\u0000");
  return `sha256:${bytesToHex(sha256(utf8ToBytes(canonical)))}`;
}
