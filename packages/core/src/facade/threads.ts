/**
 * Paged thread listings: an account's Email tab (H5) and Inbox+, the team's view of client mail
 * across every account (H4). Paging is by keyset, with an opaque cursor: the position (newest
 * activity, thread id) of the last thread of the previous page, bound to the listing it came from.
 * A keyset never skips or repeats a thread that did not change between two pages, however many
 * threads are added meanwhile, and costs the same on page 1 and page 1000 — which an offset would
 * not.
 */
import { z } from "zod";
import { NotFoundError, ValidationError } from "../errors.js";
import type { AccountId, FirmId, MemberId } from "../domain/model.js";
import { parseInput } from "../domain/schemas.js";
import type { ThreadListOptions, ThreadPosition, ThreadView } from "../ports/store.js";
import { checkIds, type FacadeContext } from "./context.js";

/** One page of a listing. */
export interface ThreadPage<T extends ThreadView = ThreadView> {
  threads: T[];
  /** Pass it back as `cursor` for the next page; `undefined` on the last page. */
  nextCursor: string | undefined;
}

/** A thread in Inbox+: with the accounts it is filed in and whether the member muted it (H4). */
export interface InboxThread extends ThreadView {
  accountIds: AccountId[];
  muted: boolean;
}

/** What a paged listing takes. */
export const threadPageSchema = z.strictObject({
  view: z.enum(["inbox", "sent"]).default("inbox"),
  /** 1 to 100; default 25. */
  limit: z.number().int().min(1).max(100).default(25),
  cursor: z.string().min(1, "a cursor from a previous page").max(1000).optional(),
});
export type ThreadPageInput = z.input<typeof threadPageSchema>;

const cursorSchema = z.strictObject({
  v: z.literal(1),
  /** The listing it belongs to: `a:<account id>` or `firm`, and the view. */
  scope: z.string(),
  view: z.enum(["inbox", "sent"]),
  at: z.number().int(),
  id: z.string().min(1),
});

function toBase64Url(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Throws on anything that is not base64url of UTF-8. */
function fromBase64Url(encoded: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(encoded)) throw new Error("not base64url");
  const binary = atob(encoded.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}

function encodeCursor(scope: string, view: string, position: ThreadPosition): string {
  const json = JSON.stringify({
    v: 1,
    scope,
    view,
    at: position.lastActivityAt.getTime(),
    id: position.threadId,
  });
  return toBase64Url(json);
}

function decodeCursor(cursor: string, scope: string, view: string): ThreadPosition {
  const refuse = (): never => {
    throw new ValidationError([
      { field: "cursor", value: cursor, expected: `a nextCursor returned by this listing (${view} view)` },
    ]);
  };
  let decoded: unknown;
  try {
    decoded = JSON.parse(fromBase64Url(cursor));
  } catch {
    return refuse();
  }
  const parsed = cursorSchema.safeParse(decoded);
  if (!parsed.success || parsed.data.scope !== scope || parsed.data.view !== view) return refuse();
  return { lastActivityAt: new Date(parsed.data.at), threadId: parsed.data.id };
}

async function page(
  input: ThreadPageInput,
  scope: string,
  list: (options: ThreadListOptions) => Promise<ThreadView[]>,
): Promise<ThreadPage> {
  const { view, limit, cursor } = parseInput(threadPageSchema, input);
  const after = cursor === undefined ? undefined : decodeCursor(cursor, scope, view);
  // One more than asked tells whether there is a next page without a second query.
  const threads = await list({ view, limit: limit + 1, after });
  const more = threads.length > limit;
  const shown = threads.slice(0, limit);
  const last = shown[shown.length - 1];
  return {
    threads: shown,
    nextCursor: more && last ? encodeCursor(scope, view, last) : undefined,
  };
}

/** H5: one page of an account's Email tab (Inbox or Sent), newest activity first. */
export async function accountThreadsPage(
  ctx: FacadeContext,
  firmId: FirmId,
  accountId: AccountId,
  input: ThreadPageInput = {},
): Promise<ThreadPage> {
  checkIds({ firmId, accountId });
  const result = await page(input, `a:${accountId}`, (options) =>
    ctx.store.listAccountThreads(firmId, accountId, options),
  );
  if (result.threads.length === 0 && !(await ctx.store.getAccount(firmId, accountId)))
    throw new NotFoundError("Account", accountId);
  return result;
}

/**
 * Inbox+ (H4): one page of the firm's client mail across every account, newest activity first,
 * as one team member sees it — each thread with its accounts and whether that member muted it.
 */
export async function inboxPlus(
  ctx: FacadeContext,
  firmId: FirmId,
  memberId: MemberId,
  input: ThreadPageInput = {},
): Promise<ThreadPage<InboxThread>> {
  checkIds({ firmId, memberId });
  if (!(await ctx.store.getMember(firmId, memberId))) throw new NotFoundError("Team member", memberId);
  const result = await page(input, "firm", (options) => ctx.store.listFirmThreads(firmId, options));
  const threads: InboxThread[] = [];
  for (const thread of result.threads) {
    const mutes = await ctx.store.listThreadMutes(firmId, thread.threadId);
    const accountIds = [...new Set(thread.messages.flatMap((m) => m.filings.map((f) => f.accountId)))].sort();
    threads.push({ ...thread, accountIds, muted: mutes.includes(memberId) });
  }
  return { threads, nextCursor: result.nextCursor };
}
