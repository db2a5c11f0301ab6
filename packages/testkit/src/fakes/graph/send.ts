/**
 * The Graph fake's sending endpoints, as documented and as researched (docs/decisions.md,
 * "Sending"):
 *
 * - `POST {user}/sendMail` with a base64 MIME body (`Content-Type: text/plain`): 202 with no
 *   body. The Message-ID of the MIME is kept; custom headers other than `X-` ones are dropped
 *   (graph-docs#17444, msgraph-sdk-dotnet#2209); the copy goes to Sent Items and to the inbox of
 *   every recipient the fake hosts (Bcc removed). A JSON `sendMail` is refused as unsupported.
 * - `POST {user}/messages/{id}/createReply` with `{ message }`: 201, a draft in Drafts in the
 *   parent's conversation, `RE: ` subject, In-Reply-To and References set by the server, its
 *   own `internetMessageId`, and the `singleValueExtendedProperties` given.
 * - `POST {user}/messages/{id}/send`: 202; the draft moves to Sent Items (keeping its
 *   internetMessageId) and is delivered.
 * - Failures: 413 `ErrorMessageSizeExceeded` over `maxMessageBytes`, 400
 *   `ErrorInvalidRecipients` for no recipient or a `.invalid` domain (standing for an address
 *   Exchange refuses), 400 `ErrorMimeContentInvalidBase64String`, 403 `ErrorSendAsDenied` for a
 *   From that is not the mailbox; 429 through the fake's fault script.
 */
import { randomBytes } from "node:crypto";
import type { GraphFakeMessageInput, GraphAddress, StoredMailbox, StoredMessage } from "./model.js";
import { findMessage } from "./model.js";
import { faultResponse, graphFaults } from "./responses.js";

/** What the send handlers need from the fake. */
export interface GraphSendContext {
  mailbox: StoredMailbox;
  addMessage(mailbox: StoredMailbox, input: GraphFakeMessageInput): string;
  addRawMessage(mailbox: StoredMailbox, raw: string, folder: string): string;
  moveMessage(mailbox: StoredMailbox, id: string, folder: string): void;
  mailboxOf(address: string): StoredMailbox | undefined;
  render(message: StoredMessage): Record<string, unknown>;
  /** Extended properties by immutable message id. */
  extendedProperties: Map<string, Map<string, string>>;
  maxMessageBytes: number;
}

const keptHeaders = new Set([
  "from",
  "sender",
  "reply-to",
  "to",
  "cc",
  "bcc",
  "subject",
  "date",
  "message-id",
  "in-reply-to",
  "references",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
]);

function addressesIn(value: string | undefined): string[] {
  if (!value) return [];
  return [...value.matchAll(/[^\s<>(),;:"@]+@[^\s<>(),;:"@]+/g)].map((match) => match[0].toLowerCase());
}

/** Top-level header fields (unfolded) of a raw message, and where its body starts. */
function headerFields(raw: string): { fields: { name: string; lines: string }[]; body: string } {
  const end = raw.search(/\r?\n\r?\n/);
  const block = end < 0 ? raw : raw.slice(0, end);
  const body = end < 0 ? "" : raw.slice(end);
  const fields: { name: string; lines: string }[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && fields.length > 0) fields[fields.length - 1]!.lines += `\r\n${line}`;
    else fields.push({ name: line.slice(0, line.indexOf(":")).trim().toLowerCase(), lines: line });
  }
  return { fields, body };
}

function valueOf(fields: { name: string; lines: string }[], name: string): string | undefined {
  const field = fields.find((f) => f.name === name);
  return field?.lines
    .slice(field.lines.indexOf(":") + 1)
    .replace(/\r\n[ \t]/g, " ")
    .trim();
}

function badRecipients(addresses: string[]): boolean {
  return (
    addresses.length === 0 ||
    addresses.some((address) => !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(address) || address.endsWith(".invalid"))
  );
}

function deliver(ctx: GraphSendContext, raw: string, recipients: string[]): void {
  const { fields, body } = headerFields(raw);
  const withoutBcc = `${fields
    .filter((field) => field.name !== "bcc")
    .map((field) => field.lines)
    .join("\r\n")}${body}`;
  for (const address of new Set(recipients)) {
    const other = ctx.mailboxOf(address);
    if (other && other !== ctx.mailbox) ctx.addRawMessage(other, withoutBcc, "inbox");
  }
}

/** `POST {user}/sendMail`. */
export async function handleSendMail(ctx: GraphSendContext, request: Request): Promise<Response> {
  const contentType = request.headers.get("Content-Type") ?? "";
  const text = await request.text();
  if (!contentType.toLowerCase().startsWith("text/plain"))
    return new Response(
      JSON.stringify({ error: { code: "BadRequest", message: "The Graph fake serves MIME sendMail only." } }),
      { status: 400, headers: { "Content-Type": "application/json" } },
    );
  const compact = text.replace(/\s+/g, "");
  if (compact === "" || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0)
    return faultResponse(graphFaults.mimeContentInvalidBase64String());
  const bytes = Buffer.from(compact, "base64");
  if (bytes.length > ctx.maxMessageBytes) return faultResponse(graphFaults.messageSizeExceeded());
  const raw = bytes.toString("utf8");
  const { fields, body } = headerFields(raw);
  const recipients = ["to", "cc", "bcc"].flatMap((name) => addressesIn(valueOf(fields, name)));
  if (badRecipients(recipients)) return faultResponse(graphFaults.invalidRecipients());
  const from = addressesIn(valueOf(fields, "from"))[0];
  if (from !== undefined && from !== ctx.mailbox.address) return faultResponse(graphFaults.sendAsDenied());
  const kept = fields.filter((field) => keptHeaders.has(field.name) || field.name.startsWith("x-"));
  if (valueOf(fields, "message-id") === undefined)
    kept.push({
      name: "message-id",
      lines: `Message-ID: <${randomBytes(12).toString("hex")}@fake.prod.outlook.com>`,
    });
  const stored = `${kept.map((field) => field.lines).join("\r\n")}${body}`;
  ctx.addRawMessage(ctx.mailbox, stored, "sentitems");
  deliver(ctx, stored, recipients);
  return new Response(null, { status: 202 });
}

interface RecipientJson {
  emailAddress?: { address?: string; name?: string };
}

interface ReplyJson {
  message?: {
    subject?: string;
    toRecipients?: RecipientJson[];
    ccRecipients?: RecipientJson[];
    bccRecipients?: RecipientJson[];
    body?: { contentType?: string; content?: string };
    singleValueExtendedProperties?: { id?: string; value?: string }[];
  };
  comment?: string;
}

function addressList(list: RecipientJson[] | undefined): GraphAddress[] | undefined {
  return list
    ?.filter((entry) => entry.emailAddress?.address)
    .map((entry) => ({ address: entry.emailAddress!.address!, name: entry.emailAddress!.name }));
}

/** `POST {user}/messages/{id}/createReply`. */
export async function handleCreateReply(
  ctx: GraphSendContext,
  parentId: string,
  request: Request,
): Promise<Response> {
  const parent = findMessage(ctx.mailbox, parentId);
  if (!parent) return faultResponse(graphFaults.itemNotFound());
  let input: ReplyJson = {};
  try {
    const text = await request.text();
    input = text === "" ? {} : (JSON.parse(text) as ReplyJson);
  } catch {
    return new Response(JSON.stringify({ error: { code: "BadRequest", message: "Invalid JSON" } }), {
      status: 400,
      headers: { "Content-Type": "application/json" },
    });
  }
  const message = input.message ?? {};
  const to = addressList(message.toRecipients) ?? [parent.from];
  const html = message.body?.contentType?.toLowerCase() === "html" ? message.body.content : undefined;
  const draftId = ctx.addMessage(ctx.mailbox, {
    folder: "drafts",
    from: { address: ctx.mailbox.address },
    to,
    cc: addressList(message.ccRecipients) ?? [],
    bcc: addressList(message.bccRecipients) ?? [],
    subject: message.subject ?? `RE: ${parent.subject}`,
    messageId: `<${randomBytes(12).toString("hex").toUpperCase()}@fake.prod.outlook.com>`,
    ...(parent.internetMessageId !== undefined
      ? { inReplyTo: parent.internetMessageId, references: [...parent.references, parent.internetMessageId] }
      : {}),
    ...(html !== undefined ? { html } : { text: message.body?.content ?? input.comment ?? "" }),
    conversationId: parent.conversationId,
    isRead: true,
  });
  const properties = new Map<string, string>();
  for (const property of message.singleValueExtendedProperties ?? [])
    if (property.id !== undefined && property.value !== undefined)
      properties.set(property.id.toLowerCase(), property.value);
  ctx.extendedProperties.set(draftId, properties);
  const draft = findMessage(ctx.mailbox, draftId)!;
  return new Response(JSON.stringify({ ...ctx.render(draft), isDraft: true }), {
    status: 201,
    headers: { "Content-Type": "application/json" },
  });
}

/** `POST {user}/messages/{id}/send`. */
export function handleSendDraft(ctx: GraphSendContext, draftId: string): Response {
  const draft = findMessage(ctx.mailbox, draftId);
  if (!draft) return faultResponse(graphFaults.itemNotFound());
  const recipients = [...draft.to, ...draft.cc, ...draft.bcc].map((address) => address.address.toLowerCase());
  if (badRecipients(recipients)) return faultResponse(graphFaults.invalidRecipients());
  const size = typeof draft.mime === "string" ? Buffer.byteLength(draft.mime) : draft.mime.length;
  if (size > ctx.maxMessageBytes) return faultResponse(graphFaults.messageSizeExceeded());
  ctx.moveMessage(ctx.mailbox, draft.immutableId, "sentitems");
  deliver(
    ctx,
    typeof draft.mime === "string" ? draft.mime : Buffer.from(draft.mime).toString("utf8"),
    recipients,
  );
  return new Response(null, { status: 202 });
}

/**
 * The `singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')` filter, parsed;
 * undefined for any other filter.
 */
export function extendedPropertyFilter(filter: string): { id: string; value: string } | undefined {
  const match =
    /^singleValueExtendedProperties\/Any\(\s*ep\s*:\s*ep\/id\s+eq\s+'((?:[^']|'')*)'\s+and\s+ep\/value\s+eq\s+'((?:[^']|'')*)'\s*\)$/i.exec(
      filter.trim(),
    );
  return match
    ? { id: match[1]!.replace(/''/g, "'").toLowerCase(), value: match[2]!.replace(/''/g, "'") }
    : undefined;
}
