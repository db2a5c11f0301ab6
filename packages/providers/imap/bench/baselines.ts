/**
 * Baselines the sync benchmark compares clientmail with, measured with imapflow and mailparser
 * directly (no clientmail code besides the list of header fields):
 *
 * - **floor**: what any correct sync must at least do — fetch the envelope header fields of every
 *   message (the same fields the IMAP provider fetches), then fetch and parse the full content of
 *   the client messages only.
 * - **ingest everything**: what a sync that stores all mail does — fetch and parse every message.
 *
 * Lives in the IMAP package so that imapflow and mailparser (a development dependency here) resolve; `bench/sync-baselines.ts`
 * re-exports it.
 */
import { ImapFlow } from "imapflow";
import { simpleParser } from "mailparser";
import { ENVELOPE_HEADER_FIELDS } from "@clientmail/provider-utils";

/** Where to connect: a Dovecot from `@clientmail/testkit` fits. */
export interface BaselineServer {
  host: string;
  port: number;
}

/** A login on that server. */
export interface BaselineUser {
  user: string;
  password: string;
}

/** What the baselines need to know about the benchmark mailbox. */
export interface BaselineMailbox {
  server: BaselineServer;
  user: BaselineUser;
  folders: readonly string[];
  /** Message-IDs (with angle brackets) of the client messages: the ones the floor fetches in full. */
  clientMessageIds: ReadonlySet<string>;
}

/** One measurement. */
export interface BaselineResult {
  name: string;
  /** Messages listed (every message of the folders). */
  messages: number;
  /** Messages fetched in full and parsed. */
  parsed: number;
  seconds: number;
  /** Messages listed per second. */
  msgsPerSecond: number;
  /** Highest resident set size of the process seen during the run, in MiB. */
  peakRssMiB: number;
  /** CPU time (user and system) the process used during the run, in seconds, when measured. */
  cpuSeconds?: number | undefined;
}

const PARSE_BATCH = 64;

async function connect(server: BaselineServer, user: BaselineUser): Promise<ImapFlow> {
  const client = new ImapFlow({
    host: server.host,
    port: server.port,
    secure: false,
    doSTARTTLS: false,
    auth: { user: user.user, pass: user.password },
    logger: false,
    disableAutoIdle: true,
  });
  client.on("error", () => undefined);
  await client.connect();
  return client;
}

/** Samples the process's RSS until stopped; returns the peak in MiB. */
export function startRssSampler(intervalMs = 25): () => number {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, intervalMs);
  return () => {
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage.rss());
    return Math.round((peak / (1024 * 1024)) * 10) / 10;
  };
}

async function measure(
  name: string,
  work: () => Promise<{ messages: number; parsed: number }>,
): Promise<BaselineResult> {
  const stopSampler = startRssSampler();
  const started = process.hrtime.bigint();
  const cpuAtStart = process.cpuUsage();
  const { messages, parsed } = await work();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuAtStart);
  return {
    name,
    messages,
    parsed,
    seconds,
    msgsPerSecond: messages / seconds,
    peakRssMiB: stopSampler(),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

const messageIdHeader = /^message-id:\s*(<[^>\s]+>)/im;

/** Fetches and parses the given UIDs of the selected folder in batches (bounded memory). */
async function parseUids(client: ImapFlow, uids: readonly number[]): Promise<number> {
  let parsed = 0;
  for (let start = 0; start < uids.length; start += PARSE_BATCH) {
    const batch = uids.slice(start, start + PARSE_BATCH);
    for await (const message of client.fetch(batch.join(","), { uid: true, source: true }, { uid: true })) {
      if (!message.source) continue;
      await simpleParser(message.source, {
        skipHtmlToText: true,
        skipTextToHtml: true,
        skipImageLinks: true,
      });
      parsed++;
    }
  }
  return parsed;
}

/** Floor: envelope header fields of every message, then full fetch and parse of the client ones. */
export async function measureFloor(mailbox: BaselineMailbox): Promise<BaselineResult> {
  return await measure("floor (headers of all + parse client mail)", async () => {
    const client = await connect(mailbox.server, mailbox.user);
    let messages = 0;
    let parsed = 0;
    try {
      for (const folder of mailbox.folders) {
        const lock = await client.getMailboxLock(folder, { readOnly: true });
        try {
          if (client.mailbox && client.mailbox.exists === 0) continue;
          const clientUids: number[] = [];
          for await (const message of client.fetch(
            "1:*",
            { uid: true, flags: true, size: true, internalDate: true, headers: [...ENVELOPE_HEADER_FIELDS] },
            { uid: true },
          )) {
            messages++;
            const id = messageIdHeader.exec(message.headers?.toString("utf8") ?? "")?.[1];
            if (id !== undefined && mailbox.clientMessageIds.has(id)) clientUids.push(message.uid);
          }
          parsed += await parseUids(client, clientUids);
        } finally {
          lock.release();
        }
      }
    } finally {
      await client.logout().catch(() => client.close());
    }
    return { messages, parsed };
  });
}

/** Ingest everything: fetch and parse every message. */
export async function measureIngestEverything(mailbox: BaselineMailbox): Promise<BaselineResult> {
  return await measure("ingest everything (parse all mail)", async () => {
    const client = await connect(mailbox.server, mailbox.user);
    let messages = 0;
    let parsed = 0;
    try {
      for (const folder of mailbox.folders) {
        const lock = await client.getMailboxLock(folder, { readOnly: true });
        try {
          if (client.mailbox && client.mailbox.exists === 0) continue;
          const uids = (await client.search({ all: true }, { uid: true })) || [];
          messages += uids.length;
          parsed += await parseUids(client, uids);
        } finally {
          lock.release();
        }
      }
    } finally {
      await client.logout().catch(() => client.close());
    }
    return { messages, parsed };
  });
}

/**
 * Brings a freshly written Maildir to a warm, indexed state (SELECT builds the index; one header
 * fetch settles Dovecot's cache decisions), so the first measurement is not charged for it.
 */
export async function primeMailbox(
  server: BaselineServer,
  user: BaselineUser,
  folders: readonly string[],
): Promise<void> {
  const client = await connect(server, user);
  try {
    for (const folder of folders) {
      const lock = await client.getMailboxLock(folder, { readOnly: true });
      try {
        if (client.mailbox && client.mailbox.exists === 0) continue;
        for await (const message of client.fetch(
          "1:*",
          { uid: true, flags: true, size: true, internalDate: true, headers: [...ENVELOPE_HEADER_FIELDS] },
          { uid: true },
        )) {
          void message;
        }
      } finally {
        lock.release();
      }
    }
  } finally {
    await client.logout().catch(() => client.close());
  }
}
