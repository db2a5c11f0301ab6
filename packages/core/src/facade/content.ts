/**
 * Message reads made safe to show: the facade's calls that return filed messages with their HTML
 * sanitised, remote images blocked unless asked for, a text for HTML-only mail and attachment
 * names safe to display (see `renderableBody`).
 */
import { z } from "zod";
import { NotFoundError, ValidationError } from "../errors.js";
import type { AccountId, FirmId } from "../domain/model.js";
import { idSchema, parseInput } from "../domain/schemas.js";
import {
  renderableBody,
  type RenderableBody,
  type RenderableBodyOptions,
} from "../content/renderable-body.js";
import type { FiledMessage, ThreadStore, FilingStore, ThreadView } from "../ports/store.js";

/** A filed message as the CRM shows it: its body rendered (see {@link renderableBody}). */
export interface RenderedMessage extends Omit<FiledMessage, "html" | "text" | "attachments"> {
  body: RenderableBody;
}

/** A thread of rendered messages. */
export interface RenderedThreadView extends Omit<ThreadView, "messages"> {
  messages: RenderedMessage[];
}

const renderOptionsSchema = z
  .strictObject({
    remoteImages: z.enum(["block", "allow"]).optional(),
    attachmentUrl: z
      .custom<NonNullable<RenderableBodyOptions["attachmentUrl"]>>((value) => typeof value === "function", {
        error: "a function (attachment, index) => URL or undefined",
      })
      .optional(),
  })
  .optional();

const threadListSchema = z.strictObject({
  view: z.enum(["inbox", "sent"]),
  limit: z.number().int().min(1).max(500),
});

/** Validates render options; throws `validation_failed` naming the bad option. */
export function parseRenderOptions(options: unknown): RenderableBodyOptions {
  return parseInput(renderOptionsSchema, options, "options") ?? {};
}

/** A message with its body rendered. */
export function renderMessage(message: FiledMessage, options: RenderableBodyOptions): RenderedMessage {
  const { html: _html, text: _text, attachments: _attachments, ...rest } = message;
  return { ...rest, body: renderableBody(message, options) };
}

/** One filed message, rendered; `not_found` when the firm has no such message (or it was removed). */
export async function renderedMessage(
  store: FilingStore,
  firmId: FirmId,
  messageId: string,
  options: unknown,
): Promise<RenderedMessage> {
  const ids = [...checkId("firmId", firmId), ...checkId("messageId", messageId)];
  if (ids.length > 0) throw new ValidationError(ids);
  const parsed = parseRenderOptions(options);
  const message = await store.getMessage(firmId, messageId);
  if (!message || message.removedAt !== undefined) throw new NotFoundError("Message", messageId);
  return renderMessage(message, parsed);
}

/** An account's threads (H5), every message rendered. */
export async function renderedAccountThreads(
  store: ThreadStore,
  firmId: FirmId,
  accountId: AccountId,
  list: { view: "inbox" | "sent"; limit: number },
  options: unknown,
): Promise<RenderedThreadView[]> {
  const ids = [...checkId("firmId", firmId), ...checkId("accountId", accountId)];
  if (ids.length > 0) throw new ValidationError(ids);
  const { view, limit } = parseInput(threadListSchema, list);
  const parsed = parseRenderOptions(options);
  const threads = await store.listAccountThreads(firmId, accountId, { view, limit });
  return threads.map((thread) => ({
    ...thread,
    messages: thread.messages.map((message) => renderMessage(message, parsed)),
  }));
}

function checkId(field: string, value: unknown) {
  try {
    parseInput(idSchema, value, field);
    return [];
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
}
