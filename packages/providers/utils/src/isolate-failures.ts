/**
 * Per-message failure isolation (R1). When a server refuses a batch because of something in one
 * of its messages while the connection stays healthy (an IMAP `NO` to a chunk's FETCH, a
 * per-request 4xx inside an HTTP batch), the rest must still be delivered and only the message
 * that fails on its own may be set aside. Connection-level failures are never isolated: they are
 * thrown, and the engine then marks no message.
 */
import { ClientMailError, isUnreadable, type FetchResult } from "@clientmail/core";
import { unreadable } from "./parse-message.js";

const marker = Symbol.for("clientmail.provider-utils.message-refused");

/**
 * Thrown by a provider's group fetch when the server refused (part of) the group for reasons of
 * its messages while the connection is still usable. {@link isolateFailures} turns it into
 * per-message outcomes; it never reaches a caller of the provider.
 */
export class MessageRefusedError extends ClientMailError {
  readonly [marker] = true;
  /**
   * The ids the server itself singled out as failed (an IMAP FETCH that answered a message
   * without the requested body, then `NO`). They are set aside without another attempt: some
   * servers (Dovecot) disconnect a client that asks again for a message they just failed to
   * read, to stop clients looping on it.
   */
  readonly refusedIds: readonly string[];

  /** `detail` is log-safe: a status or response code, never content or addresses. */
  constructor(detail: string, options: { refusedIds?: readonly string[]; cause?: unknown } = {}) {
    super("internal", `The server refused a message: ${detail}`, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      retryable: false,
      details: { detail },
    });
    this.name = "MessageRefusedError";
    this.refusedIds = options.refusedIds ?? [];
  }

  /** True for a {@link MessageRefusedError}, even from another installed copy of this package. */
  static override isInstance(value: unknown): value is MessageRefusedError {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[marker] === true;
  }
}

function idOf(result: FetchResult): string {
  return isUnreadable(result) ? result.providerId : result.envelope.providerId;
}

/**
 * Fetches `ids` with `fetchGroup`, isolating refusals: when the group fails with a
 * {@link MessageRefusedError}, the ids it names as refused become `UnreadableMessage`s
 * (`server_refused`), every other id not yet delivered is fetched again alone, and an id that is
 * refused alone too becomes an `UnreadableMessage`. Results already delivered are not repeated.
 * Any other error is rethrown as it is (it concerns the connection), also while isolating.
 */
export async function* isolateFailures(
  ids: readonly string[],
  fetchGroup: (ids: readonly string[]) => AsyncIterable<FetchResult>,
): AsyncGenerator<FetchResult> {
  const delivered = new Set<string>();
  let refusal: MessageRefusedError | undefined;
  try {
    for await (const result of fetchGroup(ids)) {
      delivered.add(idOf(result));
      yield result;
    }
    return;
  } catch (error) {
    if (!MessageRefusedError.isInstance(error)) throw error;
    refusal = error;
  }
  const detail = String(refusal.details.detail);
  const named = new Set(refusal.refusedIds);
  const rest = ids.filter((id) => !delivered.has(id));
  for (const id of rest) if (named.has(id)) yield unreadable(id, "server_refused", detail);
  const unexplained = rest.filter((id) => !named.has(id));
  if (ids.length === 1) {
    for (const id of unexplained) yield unreadable(id, "server_refused", detail);
    return;
  }
  for (const id of unexplained) {
    try {
      for await (const result of fetchGroup([id])) yield result;
    } catch (error) {
      if (!MessageRefusedError.isInstance(error)) throw error;
      yield unreadable(id, "server_refused", String(error.details.detail));
    }
  }
}
