/**
 * Test helper: drains a provider's `fetch` and returns the fetched messages, failing loudly when
 * the provider reported a message as unreadable (tests that expect that read the results raw).
 */
import { isUnreadable, type FetchedMessage, type FetchResult } from "@clientmail/core";

/** Collects `fetch` results; throws when any id came back unreadable. */
export async function fetchedMessages(results: AsyncIterable<FetchResult>): Promise<FetchedMessage[]> {
  const messages: FetchedMessage[] = [];
  for await (const result of results) {
    if (isUnreadable(result)) {
      throw new Error(
        `message ${result.providerId} came back unreadable (${result.unreadable.reason}: ${result.unreadable.detail})`,
      );
    }
    messages.push(result);
  }
  return messages;
}
