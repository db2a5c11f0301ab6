/**
 * Test helper: drains a provider's `fetch` and returns the fetched messages, failing loudly when
 * the provider reported a message as unreadable (tests that expect that read the results raw).
 *
 * A provider may release a message's bytes once its `fetch` iteration ends (R7), so the helper
 * reads each source and attachment while iterating and hands back copies held in memory.
 */
import { isUnreadable, type FetchedMessage, type FetchResult } from "@clientmail/core";

async function bytesOf(content: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function replay(bytes: Buffer): () => AsyncIterable<Uint8Array> {
  return async function* () {
    yield bytes;
  };
}

/** A fetched message whose source and attachments are read into memory now. */
export async function heldInMemory(message: FetchedMessage): Promise<FetchedMessage> {
  const attachments = [];
  for (const attachment of message.attachments)
    attachments.push({ ...attachment, content: replay(await bytesOf(attachment.content())) });
  const source = message.source ? replay(await bytesOf(message.source())) : undefined;
  return { ...message, attachments, source };
}

/** Collects `fetch` results; throws when any id came back unreadable. */
export async function fetchedMessages(results: AsyncIterable<FetchResult>): Promise<FetchedMessage[]> {
  const messages: FetchedMessage[] = [];
  for await (const result of results) {
    if (isUnreadable(result)) {
      throw new Error(
        `message ${result.providerId} came back unreadable (${result.unreadable.reason}: ${result.unreadable.detail})`,
      );
    }
    messages.push(await heldInMemory(result));
  }
  return messages;
}
