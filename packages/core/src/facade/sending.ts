/**
 * The facade's sending calls (S1–S6, P1–P5, T5, T6, H5): compose, check and queue. Everything is
 * validated and rendered before anything is queued — an unknown shortcode (S2), a header-unsafe
 * value, too many recipients or too large a message refuses the whole call with one typed error,
 * and the outbox stays as it was. Queued messages and their `outbox.send` jobs are written in one
 * transaction; the workers send them (see `engine/outbox.ts`), checking permission again then.
 */
import { z } from "zod";
import { ClientMailError, NotFoundError, PermissionDeniedError, ValidationError } from "../errors.js";
import type { Account, AccountId, Contact, FirmId, Link, Mailbox, TeamMember } from "../domain/model.js";
import { emailSchema, idSchema, multiLineText, parseInput, singleLineText } from "../domain/schemas.js";
import {
  actingMember,
  assertMaySend,
  defaultReplyMailbox,
  maySendFrom,
  type Actor,
} from "../domain/permissions.js";
import { composeMessageId, replyHeaders, replySubject } from "../domain/sending.js";
import { recipientsFor, type Audience, type Recipient } from "../domain/settings.js";
import {
  compileTemplate,
  renderTemplate,
  shortcodeValues,
  withSignature,
  type CompiledTemplate,
  type ShortcodeValues,
} from "../domain/templates.js";
import {
  assertDraftsQueueable,
  draftIssues,
  draftOf,
  flattenHeaderText,
  type DraftAddress,
  type DraftAttachment,
  type DraftKind,
  type OutboxDraft,
  type SendLimits,
  nextWeeklyDigestAt,
} from "../domain/outgoing.js";
import { notifyCategories, type NotifyCategory } from "../domain/model.js";
import type { Clock } from "../ports/clock.js";
import type { DocumentSource } from "../ports/document-source.js";
import type { JobQueue } from "../ports/job-queue.js";
import type { Logger } from "../ports/logger.js";
import type { OutboxActor, OutboxMessage, Store } from "../ports/store.js";
import { actorName, fileSentMessage, heldAfterCrashError, outboxJob } from "../engine/outbox.js";

/** What the sending calls need from the facade. */
export interface SendingContext {
  store: Store;
  queue: JobQueue | undefined;
  clock: Clock;
  logger: Logger;
  documentSource: DocumentSource | undefined;
  limits: SendLimits;
  /** 16 or more lower-case hex digits for a Message-ID. */
  randomHex: () => string;
}

/** Who presses send (P4): a team member, or an automation running as a named member (P2). */
export const actorSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("member"), memberId: idSchema }),
  z.strictObject({
    kind: z.literal("automation"),
    automationId: singleLineText().min(1, "a non-empty automation name").max(200, "at most 200 characters"),
    runAsMemberId: idSchema,
  }),
]);

const subjectSchema = singleLineText().max(998, "at most 998 characters");
const textBody = multiLineText().max(5_000_000, "at most 5,000,000 characters");
const attachmentsSchema = z.array(z.strictObject({ documentId: idSchema })).default([]);
const addressList = z.array(emailSchema).max(1000).default([]);

/** `send`: one message per account (S1), recipients by T5 or chosen addresses of the account. */
export const sendInputSchema = z.strictObject({
  actor: actorSchema,
  mailboxId: idSchema,
  accountIds: z.array(idSchema).min(1, "at least one account"),
  /** `notify` (T5): the account's links with notify on; or chosen addresses of the one account. */
  to: z.union([z.literal("notify"), z.array(emailSchema).min(1, "at least one address")]).default("notify"),
  /** T5's kind of mail; default `email`, `bulk_email` for several accounts, `automation_email` for automations. */
  audience: z.enum(["email", "bulk_email", "automation_email"]).optional(),
  cc: addressList,
  bcc: addressList,
  /** A template: shortcodes like `[ACCOUNT_NAME]` are resolved per account and recipient (S2). */
  subject: subjectSchema,
  text: textBody.optional(),
  html: textBody.optional(),
  attachments: attachmentsSchema,
  /** S4: when to send; default now. */
  sendAt: z.date().optional(),
});
export type SendInput = z.input<typeof sendInputSchema>;

/** `reply`: a reply in a thread (S6, P3). */
export const replyInputSchema = z.strictObject({
  actor: actorSchema,
  threadId: idSchema,
  /** Default (P3): the mailbox the thread's last inbound message arrived in, else the sender's own. */
  mailboxId: idSchema.optional(),
  /** Also to the other client addresses of the parent (To and Cc). */
  replyAll: z.boolean().default(false),
  cc: addressList,
  bcc: addressList,
  /** Default `Re: ` and the parent's subject. */
  subject: subjectSchema.optional(),
  text: textBody.optional(),
  html: textBody.optional(),
  attachments: attachmentsSchema,
  sendAt: z.date().optional(),
});
export type ReplyInput = z.input<typeof replyInputSchema>;

/** Edits of a scheduled message (S4). Texts are final (already rendered), not templates. */
export const rescheduleInputSchema = z.strictObject({
  by: idSchema,
  sendAt: z.date().optional(),
  subject: subjectSchema.optional(),
  text: textBody.optional(),
  html: textBody.optional(),
});
export type RescheduleInput = z.input<typeof rescheduleInputSchema>;

/** T5, T6: a system notification to accounts, by category, through the outbox. */
export const clientNotificationInputSchema = z.strictObject({
  actor: actorSchema,
  mailboxId: idSchema,
  accountIds: z.array(idSchema).min(1, "at least one account"),
  category: z.enum(notifyCategories),
  subject: subjectSchema,
  text: textBody.optional(),
  html: textBody.optional(),
  /** T6: what a contact whose portal access is pending sees above the message. */
  activationBanner: z.strictObject({ text: textBody, html: textBody.optional() }).default({
    text: "Your client portal access is waiting for you: open the invitation we sent you to activate it.",
  }),
  sendAt: z.date().optional(),
});
export type ClientNotificationInput = z.input<typeof clientNotificationInputSchema>;

/** The outcome of a send: the queued messages, and accounts with nobody to send to (T5). */
export interface SendResult {
  messages: OutboxMessage[];
  /** Accounts without a recipient (no link with notify on, or the category off). */
  skipped: AccountId[];
}

/** One line of the Scheduled view (H5). */
export interface ScheduledItem {
  message: OutboxMessage;
  /** Its send time has come (it is waiting for a worker, or being sent). */
  due: boolean;
  /** Why it failed, for a failed message. */
  error: string | undefined;
}

function requireQueue(ctx: SendingContext): JobQueue {
  if (!ctx.queue)
    throw new ClientMailError("unsupported", "Sending needs a job queue (settings.queue)", {
      details: { option: "queue" },
    });
  return ctx.queue;
}

function toOutboxActor(actor: Actor): OutboxActor {
  return actor.kind === "member"
    ? { kind: "member", memberId: actor.memberId }
    : { kind: "automation", name: actor.automationId, memberId: actor.runAsMemberId };
}

interface Templates {
  subject: CompiledTemplate;
  text: CompiledTemplate | undefined;
  html: CompiledTemplate | undefined;
}

/** S2: every template part compiled; the first unknown shortcode refuses the call. */
function compileAll(input: {
  subject: string;
  text?: string | undefined;
  html?: string | undefined;
}): Templates {
  return {
    subject: compileTemplate(input.subject, "subject"),
    text: input.text === undefined ? undefined : compileTemplate(input.text, "text"),
    html: input.html === undefined ? undefined : compileTemplate(input.html, "html"),
  };
}

const usesContact = (templates: Templates) =>
  [templates.subject, templates.text, templates.html].some((t) =>
    t?.uses.some((name) => name.startsWith("CONTACT_")),
  );

function render(templates: Templates, values: ShortcodeValues) {
  return {
    // Values come from stored names: any control character in them becomes a space, never a header.
    subject: flattenHeaderText(renderTemplate(templates.subject, values, "subject")),
    text: templates.text && renderTemplate(templates.text, values, "text"),
    html: templates.html && renderTemplate(templates.html, values, "html"),
  };
}

/** P1, P5 at compose time (checked again when sending): the actor, its member and the mailbox. */
async function senderOf(
  ctx: SendingContext,
  firmId: FirmId,
  actor: Actor,
): Promise<{ member: TeamMember; firmName: string }> {
  const memberId = actingMember(actor);
  const [firm, member] = await Promise.all([
    ctx.store.getFirm(firmId),
    ctx.store.getMember(firmId, memberId),
  ]);
  if (!firm) throw new NotFoundError("Firm", firmId);
  if (!member)
    throw new PermissionDeniedError("not_a_team_member", `${memberId} is not a team member of this firm`);
  return { member, firmName: firm.name };
}

async function mailboxFor(ctx: SendingContext, firmId: FirmId, mailboxId: string): Promise<Mailbox> {
  const mailbox = await ctx.store.getMailbox(firmId, mailboxId);
  if (!mailbox) throw new PermissionDeniedError("mailbox_not_found", `Mailbox ${mailboxId} was not found`);
  return mailbox;
}

async function attachmentsFor(
  ctx: SendingContext,
  firmId: FirmId,
  refs: ReadonlyArray<{ documentId: string }>,
  accountIds: readonly AccountId[],
): Promise<DraftAttachment[]> {
  if (refs.length === 0) return [];
  if (!ctx.documentSource)
    throw new ClientMailError("unsupported", "Attachments need a document source (settings.documentSource)", {
      details: { option: "documentSource" },
    });
  const attachments: DraftAttachment[] = [];
  const missing = [];
  for (const [index, ref] of refs.entries()) {
    const document = await ctx.documentSource.getDocument(firmId, ref.documentId, { accountIds });
    if (!document) {
      missing.push({
        field: `attachments.${index}.documentId`,
        value: ref.documentId,
        expected: "a document of the firm that these accounts may use",
      });
      continue;
    }
    attachments.push({
      documentId: ref.documentId,
      filename: document.filename,
      contentType: document.contentType,
      size: document.size,
    });
  }
  if (missing.length > 0) throw new ValidationError(missing);
  return attachments;
}

function mailboxDomain(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1);
}

function fromOf(mailbox: Mailbox): DraftAddress {
  const name = flattenHeaderText(mailbox.displayName).trim();
  return name && name !== mailbox.address ? { address: mailbox.address, name } : { address: mailbox.address };
}

const contactName = (contact: Contact | undefined) =>
  contact ? flattenHeaderText(`${contact.firstName} ${contact.lastName}`).trim() : "";

function addressOf(email: string, contact: Contact | undefined): DraftAddress {
  const name = contactName(contact);
  return name ? { address: email, name } : { address: email };
}

/** The queued messages, with their jobs, in one transaction. */
async function enqueueDrafts(
  ctx: SendingContext,
  firmId: FirmId,
  actor: Actor,
  mailboxId: string,
  entries: ReadonlyArray<{ draft: OutboxDraft; accountIds: AccountId[]; threadId: string | undefined }>,
  sendAt: Date,
): Promise<OutboxMessage[]> {
  const queue = requireQueue(ctx);
  assertDraftsQueueable(
    entries.map((e) => e.draft),
    ctx.limits,
  );
  const now = ctx.clock.now();
  const outboxActor = toOutboxActor(actor);
  return ctx.store.transaction(async (tx) => {
    const created: OutboxMessage[] = [];
    for (const entry of entries) {
      const message = await tx.createOutbox(
        firmId,
        {
          mailboxId,
          actor: outboxActor,
          accountIds: entry.accountIds,
          threadId: entry.threadId,
          draft: { ...entry.draft },
          sendAt,
        },
        now,
      );
      created.push(message);
    }
    await queue.enqueue(
      tx,
      created.map((m) => outboxJob(firmId, m.id, sendAt)),
    );
    await tx.appendAudit(
      firmId,
      {
        actor: actorName(outboxActor),
        action: "messages.queued",
        subject: `mailbox:${mailboxId}`,
        details: { count: created.length, sendAt: sendAt.toISOString(), outboxIds: created.map((m) => m.id) },
      },
      now,
    );
    return created;
  });
}

function sendTime(ctx: SendingContext, sendAt: Date | undefined): Date {
  const now = ctx.clock.now();
  if (sendAt === undefined || sendAt.getTime() < now.getTime()) return now;
  return sendAt;
}

async function accountsWithLinks(
  ctx: SendingContext,
  firmId: FirmId,
  accountIds: readonly AccountId[],
): Promise<Array<{ account: Account; links: Link[] }>> {
  const result = [];
  const missing = [];
  for (const [index, accountId] of [...new Set(accountIds)].entries()) {
    const account = await ctx.store.getAccount(firmId, accountId);
    if (!account) {
      missing.push({ field: `accountIds.${index}`, value: accountId, expected: "an account of this firm" });
      continue;
    }
    result.push({ account, links: await ctx.store.listLinks(firmId, { accountId }) });
  }
  if (missing.length > 0) throw new ValidationError(missing);
  return result;
}

async function contactsOf(ctx: SendingContext, firmId: FirmId, ids: Iterable<string>) {
  const contacts = new Map<string, Contact>();
  for (const id of new Set(ids)) {
    const contact = await ctx.store.getContact(firmId, id);
    if (contact) contacts.set(id, contact);
  }
  return contacts;
}

/**
 * S1, S2, S3, T5: sends (or schedules, S4) one message per account — never one message with
 * every client in To. Recipients are the account's links with notify on (T5), or, for one
 * account, chosen addresses of that account. A template that uses a contact's shortcodes is sent
 * as one message per recipient, so each is addressed by name. The mailbox's signature is
 * appended (S3). P1/P5 are checked now and again when sending.
 */
export async function sendMessages(
  ctx: SendingContext,
  firmId: FirmId,
  input: SendInput,
): Promise<SendResult> {
  const parsed = parseInput(sendInputSchema, input);
  requireQueue(ctx);
  if (parsed.accountIds.length > ctx.limits.maxAccountsPerSend)
    throw new ValidationError([
      {
        field: "accountIds",
        value: `${parsed.accountIds.length} accounts`,
        expected: `at most ${ctx.limits.maxAccountsPerSend} accounts per send`,
      },
    ]);
  if (parsed.to !== "notify" && parsed.accountIds.length > 1)
    throw new ValidationError([
      { field: "to", value: parsed.to, expected: '"notify" when sending to several accounts (S1)' },
    ]);
  const templates = compileAll(parsed);
  const { member, firmName } = await senderOf(ctx, firmId, parsed.actor);
  const mailbox = await mailboxFor(ctx, firmId, parsed.mailboxId);
  assertMaySend(maySendFrom(member.id, mailbox));
  const accounts = await accountsWithLinks(ctx, firmId, parsed.accountIds);
  const audience: Audience = {
    kind:
      parsed.audience ??
      (parsed.actor.kind === "automation"
        ? "automation_email"
        : accounts.length > 1
          ? "bulk_email"
          : "email"),
  };
  const planned: Array<{ account: Account; recipients: Recipient[] }> = [];
  const skipped: AccountId[] = [];
  for (const { account, links } of accounts) {
    let recipients: Recipient[];
    if (parsed.to === "notify") recipients = recipientsFor(links, audience);
    else {
      const chosen = parsed.to;
      const bad = chosen
        .map((email, index) => ({ email, index }))
        .filter(({ email }) => !links.some((l) => l.email === email));
      if (bad.length > 0)
        throw new ValidationError(
          bad.map(({ email, index }) => ({
            field: `to.${index}`,
            value: email,
            expected: `an address of account ${account.name}`,
          })),
        );
      recipients = [...new Set(chosen)].map((email) => {
        const link = links.find((l) => l.email === email)!;
        return { linkId: link.id, contactId: link.contactId, email, activationBanner: false };
      });
    }
    if (recipients.length === 0) skipped.push(account.id);
    else planned.push({ account, recipients });
  }
  const contacts = await contactsOf(
    ctx,
    firmId,
    planned.flatMap((p) => p.recipients.map((r) => r.contactId)),
  );
  const attachments = await attachmentsFor(
    ctx,
    firmId,
    parsed.attachments,
    planned.map((p) => p.account.id),
  );
  const perRecipient = usesContact(templates);
  const entries = [];
  for (const { account, recipients } of planned) {
    const groups = perRecipient ? recipients.map((r) => [r]) : [recipients];
    for (const group of groups) {
      const first = group[0]!;
      const contact = contacts.get(first.contactId);
      const values = shortcodeValues({
        account: { name: account.name },
        contact: { firstName: contact?.firstName ?? "", lastName: contact?.lastName ?? "" },
        recipientEmail: first.email,
        firm: { name: firmName },
        sender: { name: member.name, email: mailbox.address },
      });
      const rendered = render(templates, values);
      const body = withSignature(rendered, mailbox.settings.signatureHtml, "sdk");
      entries.push({
        accountIds: [account.id],
        threadId: undefined,
        draft: {
          version: 1 as const,
          kind: { kind: "email" } as DraftKind,
          messageId: composeMessageId(mailboxDomain(mailbox.address), ctx.randomHex()),
          from: fromOf(mailbox),
          to: group.map((r) => addressOf(r.email, contacts.get(r.contactId))),
          cc: parsed.cc.map((address) => ({ address })),
          bcc: parsed.bcc.map((address) => ({ address })),
          subject: rendered.subject,
          text: body.text,
          html: body.html,
          attachments,
        },
      });
    }
  }
  const messages =
    entries.length === 0
      ? []
      : await enqueueDrafts(ctx, firmId, parsed.actor, mailbox.id, entries, sendTime(ctx, parsed.sendAt));
  return { messages, skipped };
}

/**
 * S6, P3: a reply in a thread, from the mailbox the thread's last inbound message arrived in when
 * the sender may use it, else from the sender's own mailbox, else refused with why. It carries
 * In-Reply-To and References (RFC 5322) and the parent's id in the sending mailbox, so the
 * provider threads it too.
 */
export async function replyInThread(
  ctx: SendingContext,
  firmId: FirmId,
  input: ReplyInput,
): Promise<OutboxMessage> {
  const parsed = parseInput(replyInputSchema, input);
  requireQueue(ctx);
  const messages = await ctx.store.listThreadMessages(firmId, parsed.threadId);
  const parent = messages.at(-1);
  if (!parent) throw new NotFoundError("Thread", parsed.threadId);
  const { member, firmName } = await senderOf(ctx, firmId, parsed.actor);
  let mailbox: Mailbox;
  if (parsed.mailboxId !== undefined) {
    mailbox = await mailboxFor(ctx, firmId, parsed.mailboxId);
    assertMaySend(maySendFrom(member.id, mailbox));
  } else {
    const mailboxes = await ctx.store.listMailboxes(firmId);
    const lastInbound = [...messages].reverse().find((m) => m.direction === "inbound");
    const arrivedIn = mailboxes.find((m) => lastInbound?.sightings.some((s) => s.mailboxId === m.id));
    const own = mailboxes.filter((m) => m.connections.some((c) => c.memberId === member.id));
    const chosen = assertMaySend(defaultReplyMailbox(member.id, arrivedIn, own));
    mailbox = mailboxes.find((m) => m.id === chosen)!;
  }
  const internal = new Set([
    mailbox.address,
    ...(await ctx.store.listMailboxes(firmId)).map((m) => m.address),
  ]);
  const base =
    parent.direction === "inbound" ? (parent.replyTo.length > 0 ? parent.replyTo : parent.from) : parent.to;
  const others = parsed.replyAll ? [...parent.to, ...parent.cc] : [];
  const seen = new Set<string>();
  const recipients = [...base, ...others].filter((a) => {
    if (internal.has(a.address) || seen.has(a.address)) return false;
    seen.add(a.address);
    return true;
  });
  if (recipients.length === 0)
    throw new ValidationError([
      {
        field: "threadId",
        value: parsed.threadId,
        expected: "a thread whose last message has a client to reply to",
      },
    ]);
  const accountIds = [...new Set(messages.flatMap((m) => m.filings.map((f) => f.accountId)))];
  const templates = compileAll({ subject: parsed.subject ?? "", text: parsed.text, html: parsed.html });
  // The parent's subject is the client's text, not a template: `[EXTERNAL]` in it stays as it is.
  if (parsed.subject === undefined)
    templates.subject = {
      parts: [{ kind: "text", text: flattenHeaderText(replySubject(parent.subject)) }],
      uses: [],
    };
  const account = accountIds.length > 0 ? await ctx.store.getAccount(firmId, accountIds[0]!) : undefined;
  const links = account ? await ctx.store.listLinks(firmId, { accountId: account.id }) : [];
  const link = links.find((l) => l.email === recipients[0]!.address);
  const contact = link ? await ctx.store.getContact(firmId, link.contactId) : undefined;
  const values = shortcodeValues({
    account: { name: account?.name ?? "" },
    contact: { firstName: contact?.firstName ?? "", lastName: contact?.lastName ?? "" },
    recipientEmail: recipients[0]!.address,
    firm: { name: firmName },
    sender: { name: member.name, email: mailbox.address },
  });
  const rendered = render(templates, values);
  const body = withSignature(rendered, mailbox.settings.signatureHtml, "sdk");
  const headers = replyHeaders({
    messageId: parent.messageId,
    inReplyTo: parent.inReplyTo,
    references: parent.references,
  });
  const sighting = parent.sightings.find((s) => s.mailboxId === mailbox.id);
  const draft: OutboxDraft = {
    version: 1,
    kind: { kind: "reply", parentRecordId: parent.id },
    messageId: composeMessageId(mailboxDomain(mailbox.address), ctx.randomHex()),
    from: fromOf(mailbox),
    to: recipients.map((a) =>
      a.name ? { address: a.address, name: flattenHeaderText(a.name) } : { address: a.address },
    ),
    cc: parsed.cc.map((address) => ({ address })),
    bcc: parsed.bcc.map((address) => ({ address })),
    subject: rendered.subject,
    text: body.text,
    html: body.html,
    inReplyTo: headers.inReplyTo,
    references: headers.references,
    replyToProvider: sighting ? { messageId: sighting.providerId } : undefined,
    attachments: await attachmentsFor(ctx, firmId, parsed.attachments, accountIds),
  };
  const [queued] = await enqueueDrafts(
    ctx,
    firmId,
    parsed.actor,
    mailbox.id,
    [{ draft, accountIds, threadId: parsed.threadId }],
    sendTime(ctx, parsed.sendAt),
  );
  return queued!;
}

/** The queued message, and whether `by` may change it (P1 on its mailbox). */
async function editable(ctx: SendingContext, firmId: FirmId, outboxId: string, by: string) {
  const message = await ctx.store.getOutbox(firmId, outboxId);
  if (!message) throw new NotFoundError("Scheduled message", outboxId);
  const mailbox = await mailboxFor(ctx, firmId, message.mailboxId);
  const permission = maySendFrom(by, mailbox);
  // A stopped mailbox does not stop a member from cancelling what would fail anyway.
  if (!permission.ok && permission.reason !== "mailbox_sync_stopped") assertMaySend(permission);
  return message;
}

function notScheduled(outboxId: string, state: string): ClientMailError {
  return new ClientMailError(
    "conflict",
    `This message can no longer be changed: it is ${state === "submitting" ? "being sent" : state}`,
    { details: { outboxId, state } },
  );
}

/** S4: changes a scheduled message's time or texts while it is still scheduled. */
export async function rescheduleMessage(
  ctx: SendingContext,
  firmId: FirmId,
  outboxId: string,
  input: RescheduleInput,
): Promise<OutboxMessage> {
  const parsed = parseInput(rescheduleInputSchema, input);
  const queue = requireQueue(ctx);
  const current = await editable(ctx, firmId, outboxId, parsed.by);
  if (current.state !== "scheduled") throw notScheduled(outboxId, current.state);
  const draft: OutboxDraft = { ...draftOf(current.draft) };
  if (parsed.subject !== undefined) draft.subject = parsed.subject;
  if (parsed.text !== undefined) draft.text = parsed.text;
  if (parsed.html !== undefined) draft.html = parsed.html;
  const issues = draftIssues(draft, ctx.limits);
  if (issues.length > 0) throw new ValidationError(issues);
  const sendAt = parsed.sendAt === undefined ? current.sendAt : sendTime(ctx, parsed.sendAt);
  return ctx.store.transaction(async (tx) => {
    const updated = await tx.updateScheduledOutbox(firmId, outboxId, { draft: { ...draft }, sendAt });
    if (!updated) throw notScheduled(outboxId, (await tx.getOutbox(firmId, outboxId))?.state ?? "gone");
    // An earlier job stays due at the earlier time; it finds the message not due and re-queues it.
    await queue.enqueue(tx, [outboxJob(firmId, outboxId, sendAt)]);
    await tx.appendAudit(
      firmId,
      {
        actor: parsed.by,
        action: "message.rescheduled",
        subject: `outbox:${outboxId}`,
        details: { sendAt: sendAt.toISOString() },
      },
      ctx.clock.now(),
    );
    return updated;
  });
}

/** S4: cancels a message until a worker claimed it; then `conflict`. */
export async function cancelMessage(
  ctx: SendingContext,
  firmId: FirmId,
  outboxId: string,
  by: string,
): Promise<void> {
  parseInput(idSchema, by, "by");
  const current = await editable(ctx, firmId, outboxId, by);
  if (current.state === "cancelled") return;
  await ctx.store.transaction(async (tx) => {
    if (!(await tx.cancelOutbox(firmId, outboxId)))
      throw notScheduled(outboxId, (await tx.getOutbox(firmId, outboxId))?.state ?? "gone");
    await tx.appendAudit(
      firmId,
      { actor: by, action: "message.cancelled", subject: `outbox:${outboxId}`, details: {} },
      ctx.clock.now(),
    );
  });
}

/** `releaseHeld`: what a person decides about a message held after a crash (S4). */
export const releaseHeldInputSchema = z.strictObject({
  /** The member deciding; they must be allowed to send from the message's mailbox (P1). */
  by: idSchema,
  /** `resend`: it did not go out, send it now. `mark_sent`: it went out, record it as sent. */
  action: z.enum(["resend", "mark_sent"]),
});
export type ReleaseHeldInput = z.input<typeof releaseHeldInputSchema>;

/**
 * S4: a person's decision on a message held after a crash (`afterCrash: "hold"`: a worker stopped
 * while sending it and the mailbox's sent mail does not show it). `resend` queues it again now (P1
 * and P5 are checked again when it is sent); `mark_sent` records it as sent and files it into its
 * thread (S5). Either is audited with who decided. A message that is not held is a `conflict`.
 */
export async function releaseHeldMessage(
  ctx: SendingContext,
  firmId: FirmId,
  outboxId: string,
  input: ReleaseHeldInput,
): Promise<OutboxMessage> {
  parseInput(idSchema, outboxId, "outboxId");
  const parsed = parseInput(releaseHeldInputSchema, input);
  const queue = parsed.action === "resend" ? requireQueue(ctx) : undefined;
  const current = await editable(ctx, firmId, outboxId, parsed.by);
  if (current.state !== "failed" || current.lastError !== heldAfterCrashError)
    throw new ClientMailError(
      "conflict",
      `Only a message held after an interrupted send can be released; this one is ${current.state === "failed" ? "failed for another reason" : current.state}`,
      { details: { outboxId, state: current.state, expected: "a held message" } },
    );
  if (parsed.action === "resend")
    assertMaySend(maySendFrom(parsed.by, await mailboxFor(ctx, firmId, current.mailboxId)));
  const draft = draftOf(current.draft);
  const now = ctx.clock.now();
  return ctx.store.transaction(async (tx) => {
    const released = await tx.releaseFailedOutbox(
      firmId,
      outboxId,
      parsed.action === "resend" ? { sendAt: now } : { sentAt: now, messageId: draft.messageId },
    );
    if (!released) throw notScheduled(outboxId, (await tx.getOutbox(firmId, outboxId))?.state ?? "gone");
    if (queue) await queue.enqueue(tx, [outboxJob(firmId, outboxId, now)]);
    else await fileSentMessage(tx, firmId, current.mailboxId, draft, current.sendAt, undefined, now);
    await tx.appendAudit(
      firmId,
      {
        actor: parsed.by,
        action: parsed.action === "resend" ? "outbox.released_resend" : "outbox.released_mark_sent",
        subject: `outbox:${outboxId}`,
        details: {
          mailboxId: current.mailboxId,
          messageId: draft.messageId,
          heldActor: actorName(current.actor),
        },
      },
      now,
    );
    return (await tx.getOutbox(firmId, outboxId))!;
  });
}

/**
 * H5: the Scheduled view of an account: messages waiting to be sent (and whether they are due),
 * being sent, and those that failed with why; soonest first.
 */
export async function scheduledView(
  ctx: SendingContext,
  firmId: FirmId,
  accountId: AccountId,
): Promise<ScheduledItem[]> {
  const now = ctx.clock.now().getTime();
  const all = await ctx.store.listOutbox(firmId, { accountId });
  return all
    .filter((m) => m.state === "scheduled" || m.state === "submitting" || m.state === "failed")
    .map((message) => ({
      message,
      due: message.state !== "failed" && message.sendAt.getTime() <= now,
      error: message.state === "failed" ? message.lastError : undefined,
    }));
}

/**
 * T5, T6: a system notification of `category` to accounts: one message per recipient with notify
 * on and the category enabled, each carrying the activation banner while that contact's portal
 * access is pending (per contact: another contact of the account being active does not remove it).
 */
export async function notifyClients(
  ctx: SendingContext,
  firmId: FirmId,
  input: ClientNotificationInput,
): Promise<SendResult> {
  const parsed = parseInput(clientNotificationInputSchema, input);
  requireQueue(ctx);
  const templates = compileAll(parsed);
  const bannerTemplates = compileAll({
    subject: "",
    text: parsed.activationBanner.text,
    html: parsed.activationBanner.html,
  });
  const { member, firmName } = await senderOf(ctx, firmId, parsed.actor);
  const mailbox = await mailboxFor(ctx, firmId, parsed.mailboxId);
  assertMaySend(maySendFrom(member.id, mailbox));
  const accounts = await accountsWithLinks(ctx, firmId, parsed.accountIds);
  const category: NotifyCategory = parsed.category;
  const skipped: AccountId[] = [];
  const entries = [];
  const planned = accounts.map(({ account, links }) => ({
    account,
    recipients: recipientsFor(links, { kind: "system_notification", category }),
  }));
  const contacts = await contactsOf(
    ctx,
    firmId,
    planned.flatMap((p) => p.recipients.map((r) => r.contactId)),
  );
  for (const { account, recipients } of planned) {
    if (recipients.length === 0) skipped.push(account.id);
    for (const recipient of recipients) {
      const contact = contacts.get(recipient.contactId);
      const values = shortcodeValues({
        account: { name: account.name },
        contact: { firstName: contact?.firstName ?? "", lastName: contact?.lastName ?? "" },
        recipientEmail: recipient.email,
        firm: { name: firmName },
        sender: { name: member.name, email: mailbox.address },
      });
      const rendered = render(templates, values);
      if (recipient.activationBanner) {
        const banner = render(bannerTemplates, values);
        if (rendered.text !== undefined) rendered.text = `${banner.text ?? ""}\n\n${rendered.text}`;
        if (rendered.html !== undefined)
          rendered.html = `<div class="clientmail-activation-banner">${banner.html ?? banner.text ?? ""}</div>${rendered.html}`;
      }
      const body = withSignature(rendered, mailbox.settings.signatureHtml, "sdk");
      entries.push({
        accountIds: [account.id],
        threadId: undefined,
        draft: {
          version: 1 as const,
          kind: {
            kind: "client_notification",
            category,
            activationBanner: recipient.activationBanner,
          } as DraftKind,
          messageId: composeMessageId(mailboxDomain(mailbox.address), ctx.randomHex()),
          from: fromOf(mailbox),
          to: [addressOf(recipient.email, contact)],
          cc: [],
          bcc: [],
          subject: rendered.subject,
          text: body.text,
          html: body.html,
          attachments: [],
        },
      });
    }
  }
  const messages =
    entries.length === 0
      ? []
      : await enqueueDrafts(ctx, firmId, parsed.actor, mailbox.id, entries, sendTime(ctx, parsed.sendAt));
  return { messages, skipped };
}

/** T5: the weekly transactions digest, one per account, each with its own content. */
export const weeklyDigestInputSchema = z.strictObject({
  actor: actorSchema,
  mailboxId: idSchema,
  /** The recipients' IANA time zone (contacts carry none); a digest may name its own. */
  timeZone: singleLineText().min(1, "an IANA time zone").max(100),
  digests: z
    .array(
      z.strictObject({
        accountId: idSchema,
        subject: subjectSchema,
        text: textBody.optional(),
        html: textBody.optional(),
        timeZone: singleLineText().min(1, "an IANA time zone").max(100).optional(),
      }),
    )
    .min(1, "at least one digest")
    .max(1000, "at most 1,000 digests per call"),
});
export type WeeklyDigestInput = z.input<typeof weeklyDigestInputSchema>;

/**
 * T5: schedules each account's weekly transactions digest for the next Monday 09:00 in the
 * recipients' time zone, to the links with notify on and the `transactions_digest` category
 * enabled, with the activation banner per contact (T6). Every template is checked before
 * anything is queued (S2).
 */
export async function scheduleWeeklyDigests(
  ctx: SendingContext,
  firmId: FirmId,
  input: WeeklyDigestInput,
): Promise<SendResult> {
  const parsed = parseInput(weeklyDigestInputSchema, input);
  const now = ctx.clock.now();
  const planned = parsed.digests.map((digest) => {
    compileAll(digest);
    return { digest, sendAt: nextWeeklyDigestAt(now, digest.timeZone ?? parsed.timeZone) };
  });
  const result: SendResult = { messages: [], skipped: [] };
  for (const { digest, sendAt } of planned) {
    const one = await notifyClients(ctx, firmId, {
      actor: parsed.actor,
      mailboxId: parsed.mailboxId,
      accountIds: [digest.accountId],
      category: "transactions_digest",
      subject: digest.subject,
      text: digest.text,
      html: digest.html,
      sendAt,
    });
    result.messages.push(...one.messages);
    result.skipped.push(...one.skipped);
  }
  return result;
}
