import {
  buildRawMessage,
  createGmailFake,
  type GmailFakeOptions,
  type RawMessageInput,
} from "@clientmail/testkit";
import { createGmailProvider, type GmailProviderSettings } from "../src/index.js";

/** A virtual clock whose sleeps advance time instantly, recording each wait. */
export function virtualTime(start = Date.UTC(2026, 0, 10, 12)) {
  let now = start;
  const sleeps: number[] = [];
  return {
    clock: { now: () => new Date(now) },
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    advance: (ms: number) => {
      now += ms;
    },
    sleeps,
    elapsed: () => now - start,
  };
}

export const mailboxAddress = "ann@firm.com";

/** A fake Gmail with one mailbox and a provider wired to it through the fake's fetch. */
export function connect(
  options: {
    fake?: GmailFakeOptions;
    provider?: Partial<GmailProviderSettings>;
    wrapFetch?: (fetch: typeof globalThis.fetch) => typeof globalThis.fetch;
  } = {},
) {
  const time = virtualTime();
  const fake = createGmailFake({ clock: time.clock, ...options.fake });
  const mailbox = fake.addUser(mailboxAddress);
  const provider = createGmailProvider({
    credentials: {
      clientId: fake.oauthClient.clientId,
      clientSecret: fake.oauthClient.clientSecret,
      refreshToken: fake.refreshTokenOf(mailboxAddress)!,
    },
    emailAddress: mailboxAddress,
    fetch: options.wrapFetch ? options.wrapFetch(fake.fetch) : fake.fetch,
    clock: time.clock,
    sleep: time.sleep,
    // Full jitter at its midpoint: backoffs are half their ceiling, so tests can tell them apart.
    random: () => 0.5,
    ...options.provider,
  });
  return { time, fake, mailbox, provider };
}

export function raw(input: Partial<RawMessageInput> = {}): string {
  return buildRawMessage({
    from: "cfo@acme.com",
    to: mailboxAddress,
    subject: "Q3 figures",
    text: "Hello",
    ...input,
  });
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}
