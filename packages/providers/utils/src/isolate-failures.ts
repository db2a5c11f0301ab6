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

  /** `detail` is log-safe: a status or response code, never content or addresses. */
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super("internal", `The server refused a message: ${detail}`, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      retryable: false,
      details: { detail },
    });
    this.name = "MessageRefusedError";
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
 * {@link MessageRefusedError}, every id not yet delivered is fetched again alone, and an id that
 * is refused alone too becomes an `UnreadableMessage` (`server_refused`). Results already
 * delivered are not repeated. Any other error is rethrown as it is (it concerns the connection).
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
  const rest = ids.filter((id) => !delivered.has(id));
  if (ids.length === 1) {
    for (const id of rest) yield unreadable(id, "server_refused", String(refusal.details.detail));
    return;
  }
  for (const id of rest) {
    try {
      for await (const result of fetchGroup([id])) yield result;
    } catch (error) {
      if (!MessageRefusedError.isInstance(error)) throw error;
      yield unreadable(id, "server_refused", String(error.details.detail));
    }
  }
}
