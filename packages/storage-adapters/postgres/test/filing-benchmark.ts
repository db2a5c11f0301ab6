/**
 * The body of `pnpm bench:store` (see bench/store.bench.ts): files realistic messages into a real
 * PostgreSQL through `fileMessages`, then writes the very same rows with a plain `COPY`, in the
 * same run and on the same server, and prints both rates and their ratio.
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import type { MessageToFile } from "@clientmail/core/ports";
import { createPostgresStore, migrate } from "../src/index.js";

export interface FilingBenchmarkOptions {
  databaseUrl: string;
  messages: number;
  batchSize: number;
  bodyBytes: number;
  /** Rounds that alternate filing and copying (default 5). */
  rounds?: number;
  log?: (line: string) => void;
}

export interface FilingBenchmarkResult {
  filedPerSecond: number;
  copyPerSecond: number;
  /** Of the totals: COPY time / filing time. */
  ratio: number;
  /** The median of the rounds' ratios. */
  medianRoundRatio: number;
  rounds: number;
  filedSeconds: number;
  copySeconds: number;
}

let seed = 11;
function random(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
}

const words =
  "invoice tax return payroll quarter ledger receipt balance statement audit deadline schedule filing \
refund deduction expense income transfer account payment reminder signature engagement letter review".split(
    " ",
  );

function prose(bytes: number): string {
  const out: string[] = [];
  let length = 0;
  while (length < bytes) {
    const word = words[Math.floor(random() * words.length)] ?? "note";
    out.push(word);
    length += word.length + 1;
  }
  return out.join(" ").slice(0, bytes);
}

/** Escapes one value for COPY's text format. */
function copyValue(value: string | null): string {
  if (value === null) return "\\N";
  return value.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r");
}

export async function runFilingBenchmark(options: FilingBenchmarkOptions): Promise<FilingBenchmarkResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 4 });
  try {
    await migrate(pool);
    const store = createPostgresStore({ pool });
    const firm = await store.createFirm({
      name: "Bench CPA",
      internalDomains: ["bench-cpa.com"],
      deletionMode: "mirror",
    });
    const member = await store.createMember(firm.id, {
      name: "Ann",
      email: "ann@bench-cpa.com",
      role: "owner",
      newMailNotifications: "all",
      timeZone: "UTC",
    });
    const mailbox = await store.createMailbox(
      firm.id,
      {
        provider: "imap",
        address: "ann@bench-cpa.com",
        displayName: "Ann",
        ownerMemberId: member.id,
        settings: { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" },
      },
      new Date(),
    );
    const clients = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const account = await store.createAccount(
          firm.id,
          { name: `Client ${i}`, kind: "business" },
          new Date(),
        );
        const contact = await store.createContact(firm.id, { firstName: "Client", lastName: `${i}` });
        const link = await store.createLink(firm.id, {
          accountId: account.id,
          contactId: contact.id,
          email: `cfo@client${i}.com`,
          login: false,
          notify: true,
          emailSync: true,
          signatory: false,
          notifyPreferences: {
            documents_uploads: true,
            documents_signatures: true,
            documents_approvals: true,
            messages_and_tasks: true,
            proposals: true,
            organizers: true,
            invoices_and_payments: true,
            client_requests: true,
            transactions_digest: true,
          },
        });
        return { account, link };
      }),
    );
    const threads: string[] = [];
    for (let i = 0; i < Math.ceil(options.messages / 4); i++) threads.push(await store.createThread(firm.id));

    log(`generating ${options.messages} messages with ~${options.bodyBytes} byte bodies...`);
    const start = Date.parse("2025-01-01T00:00:00Z");
    const messages: MessageToFile[] = Array.from({ length: options.messages }, (_, i) => {
      const client = clients[i % clients.length] as (typeof clients)[number];
      const text = prose(Math.floor(options.bodyBytes * 0.4));
      const html = `<div><p>${prose(Math.floor(options.bodyBytes * 0.6) - 17)}</p></div>`;
      const inbound = random() < 0.6;
      const clientAddress = { name: `Client ${i % clients.length}`, address: client.link.email };
      const ann = { name: "Ann", address: "ann@bench-cpa.com" };
      return {
        dedupeKey: `<bench-${i}-${firm.id}@client.example>`,
        messageId: `<bench-${i}-${firm.id}@client.example>`,
        inReplyTo: i % 4 === 0 ? [] : [`<bench-${i - 1}-${firm.id}@client.example>`],
        references: i % 4 === 0 ? [] : [`<bench-${i - 1}-${firm.id}@client.example>`],
        from: [inbound ? clientAddress : ann],
        sender: [],
        replyTo: [],
        to: [inbound ? ann : clientAddress],
        cc: [],
        bcc: [],
        subject: `Re: ${prose(40)}`,
        date: new Date(start + i * 60_000),
        direction: inbound ? "inbound" : "outbound",
        text,
        html,
        attachments: [],
        sourceKey: undefined,
        degraded: false,
        threadId: threads[Math.floor(i / 4)] as string,
        filings: [{ accountId: client.account.id, linkIds: [client.link.id] }],
        sightings: [{ mailboxId: mailbox.id, providerId: `INBOX:1:${i + 1}`, folder: "INBOX" }],
      };
    });

    // The same rows, written by COPY into tables of the same shape (same keys and indexes).
    const tables = ["messages", "message_sightings", "message_filings"];
    for (const table of tables) {
      await pool.query(`DROP TABLE IF EXISTS bench_copy_${table}`);
      await pool.query(`CREATE TABLE bench_copy_${table} (LIKE ${table} INCLUDING ALL)`);
    }
    const filedAt = new Date();
    const lines = copyLines(firm.id, messages, filedAt);

    // Rounds alternate filing a share of the messages and copying the same share, in turns of
    // who goes first, so that both see the same machine when other work comes and goes.
    const rounds = Math.max(
      1,
      Math.min(options.rounds ?? 5, Math.floor(messages.length / options.batchSize)),
    );
    const per = Math.ceil(messages.length / rounds);
    let filedSeconds = 0;
    let copySeconds = 0;
    const ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const from = round * per;
      const to = Math.min(messages.length, from + per);
      const file = async () => {
        const started = performance.now();
        for (let i = from; i < to; i += options.batchSize) {
          await store.fileMessages(firm.id, messages.slice(i, Math.min(to, i + options.batchSize)), filedAt);
        }
        return (performance.now() - started) / 1000;
      };
      const copy = async () => {
        const started = performance.now();
        await copyRows(pool, lines, from, to);
        return (performance.now() - started) / 1000;
      };
      let filed: number;
      let copied: number;
      if (round % 2 === 0) {
        filed = await file();
        copied = await copy();
      } else {
        copied = await copy();
        filed = await file();
      }
      filedSeconds += filed;
      copySeconds += copied;
      ratios.push(copied / filed);
      log(
        `  round ${round + 1}: fileMessages ${filed.toFixed(2)} s, COPY ${copied.toFixed(2)} s, ${(copied / filed).toFixed(2)}`,
      );
    }
    const copied = Number((await pool.query("SELECT count(*) AS n FROM bench_copy_messages")).rows[0].n);
    const filed = Number(
      (await pool.query("SELECT count(*) AS n FROM messages WHERE firm_id = $1", [firm.id])).rows[0].n,
    );
    if (copied !== messages.length || filed !== messages.length) {
      throw new Error(`Row counts differ: filed ${filed}, copied ${copied}, expected ${messages.length}`);
    }
    for (const table of tables) await pool.query(`DROP TABLE bench_copy_${table}`);

    const filedPerSecond = messages.length / filedSeconds;
    const copyPerSecond = messages.length / copySeconds;
    return {
      filedPerSecond,
      copyPerSecond,
      ratio: filedPerSecond / copyPerSecond,
      medianRoundRatio: [...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)] as number,
      rounds,
      filedSeconds,
      copySeconds,
    };
  } finally {
    await pool.end();
  }
}

/** The COPY text lines of every table, message by message (the store's column order). */
function copyLines(firmId: string, messages: readonly MessageToFile[], filedAt: Date) {
  const ids = messages.map((_, i) => `copy-${i}`);
  return {
    messages: messages.map(
      (m, i) =>
        [
          firmId,
          ids[i] as string,
          m.dedupeKey,
          m.messageId ?? null,
          JSON.stringify(m.inReplyTo),
          JSON.stringify(m.references),
          JSON.stringify(m.from),
          JSON.stringify(m.sender),
          JSON.stringify(m.replyTo),
          JSON.stringify(m.to),
          JSON.stringify(m.cc),
          JSON.stringify(m.bcc),
          m.subject,
          m.date.toISOString(),
          m.direction,
          m.text ?? null,
          m.html ?? null,
          JSON.stringify(m.attachments),
          m.threadId,
          null,
          filedAt.toISOString(),
        ]
          .map(copyValue)
          .join("\t") + "\n",
    ),
    sightings: messages.map(
      (m, i) =>
        [firmId, m.sightings[0]?.mailboxId ?? "", m.sightings[0]?.providerId ?? "", ids[i] as string, "INBOX"]
          .map(copyValue)
          .join("\t") + "\n",
    ),
    filings: messages.map(
      (m, i) =>
        [firmId, ids[i] as string, m.filings[0]?.accountId ?? "", `{${m.filings[0]?.linkIds[0] ?? ""}}`]
          .map(copyValue)
          .join("\t") + "\n",
    ),
  };
}

/** Rows `from` to `to` of every table by COPY, in one transaction. */
async function copyRows(
  pool: pg.Pool,
  lines: ReturnType<typeof copyLines>,
  from: number,
  to: number,
): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const columns =
      "(firm_id, id, dedupe_key, message_id, in_reply_to, refs, from_addrs, sender, reply_to, to_addrs, cc, bcc, subject, date, direction, text_body, html_body, attachments, thread_id, removed_at, filed_at)";
    await pipeline(
      Readable.from(lines.messages.slice(from, to)),
      client.query(copyFrom(`COPY bench_copy_messages ${columns} FROM STDIN`)),
    );
    await pipeline(
      Readable.from(lines.sightings.slice(from, to)),
      client.query(
        copyFrom(
          "COPY bench_copy_message_sightings (firm_id, mailbox_id, provider_id, message_id, folder) FROM STDIN",
        ),
      ),
    );
    await pipeline(
      Readable.from(lines.filings.slice(from, to)),
      client.query(
        copyFrom("COPY bench_copy_message_filings (firm_id, message_id, account_id, link_ids) FROM STDIN"),
      ),
    );
    await client.query("COMMIT");
  } finally {
    client.release();
  }
}
