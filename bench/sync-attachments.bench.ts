/**
 * R7 benchmark: a backfill of a mailbox with a dozen client messages, each with a 35 MiB
 * attachment (about 48 MiB per message once base64-encoded, under the default 50 MiB limit), into
 * PostgreSQL, with the sources kept in a folder BlobStore (R11) and every attachment saved to a
 * folder document sink through the job queue (F9, R8). The sync runs in a child process of its
 * own (`sync-phase.ts`), which prints its peak RSS: the target is 256 MiB, whatever the sizes.
 *
 *   pnpm bench:sync:attachments
 *   BENCH_ATTACHMENTS=4 BENCH_ATTACHMENT_MIB=35 pnpm bench:sync:attachments
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { createClientMail } from "@clientmail/core";
import { createPostgresStore, installJobQueue, migrate } from "@clientmail/postgres";
import { startDovecot } from "../packages/testkit/src/dovecot.js";
import { primeMailbox } from "../packages/providers/imap/bench/baselines.js";
import { start as startPostgres } from "../test/servers/postgres.js";
import { runSyncPhase } from "./sync-phase.js";

const count = Number(process.env.BENCH_ATTACHMENTS ?? 12);
const attachmentBytes = Number(process.env.BENCH_ATTACHMENT_MIB ?? 35) * 2 ** 20;
const owner = "owner@firm.example";
const client = "client@client.example";

function base64Lines(content: Buffer): string {
  return content.toString("base64").replace(/.{76}/g, "$&\r\n");
}

async function main(): Promise<void> {
  const postgres = await startPostgres({ durable: true });
  const dovecot = await startDovecot();
  const work = await mkdtemp(join(tmpdir(), "clientmail-bench-attachments-"));
  const pool = new pg.Pool({ connectionString: postgres.env.CLIENTMAIL_TEST_DATABASE_URL, max: 4 });
  pool.on("error", () => undefined);
  try {
    // The mailbox: Maildir files written directly, then indexed.
    const user = await dovecot.addUser();
    const maildir = dovecot.maildir(user.user);
    for (const sub of ["cur", "new", "tmp"]) await mkdir(join(maildir, sub), { recursive: true });
    const hashes = new Set<string>();
    let totalBytes = 0;
    for (let i = 0; i < count; i++) {
      const attachment = randomBytes(attachmentBytes);
      hashes.add(createHash("sha256").update(attachment).digest("hex"));
      const raw = Buffer.from(
        `From: Client <${client}>\r\nTo: Owner <${owner}>\r\nSubject: Scans ${i}\r\n` +
          `Date: ${new Date(Date.UTC(2026, 0, 1 + i)).toUTCString().replace("GMT", "+0000")}\r\n` +
          `Message-ID: <scans-${i}@client.example>\r\nMIME-Version: 1.0\r\n` +
          `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n` +
          `--b${i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe scans for ${i} are attached.\r\n` +
          `--b${i}\r\nContent-Type: application/pdf; name="scans-${i}.pdf"\r\n` +
          `Content-Disposition: attachment; filename="scans-${i}.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
          `${base64Lines(attachment)}\r\n--b${i}--\r\n`,
      );
      totalBytes += raw.length;
      await writeFile(join(maildir, "cur", `${1767225600 + i}.M${i}P1.bench,S=${raw.length}:2,S`), raw);
    }
    await dovecot.fixOwnership();
    await primeMailbox(dovecot, user, ["INBOX"]);
    console.log(
      `sync attachments benchmark: ${count} client messages with a ${(attachmentBytes / 2 ** 20).toFixed(0)} MiB attachment each, ` +
        `${(totalBytes / 2 ** 20).toFixed(0)} MiB of mail`,
    );

    await migrate(pool);
    await installJobQueue(pool);
    const cm = createClientMail({ store: createPostgresStore({ pool }) });
    const firm = await cm.createFirm({ name: "Benchmark firm", internalDomains: ["firm.example"] });
    const member = await cm.addMember(firm.id, { name: "Owner", email: owner, newMailNotifications: "none" });
    await cm.createAccount(firm.id, {
      name: "Client",
      kind: "business",
      contacts: [{ firstName: "Client", emails: [{ email: client, emailSync: true }] }],
    });
    const mailbox = await cm.connectMailbox(firm.id, member.id, {
      provider: "imap",
      address: owner,
      settings: { autoSaveAttachments: true },
    });

    const blobDir = join(work, "blobs");
    const documentsDir = join(work, "documents");
    const phase = await runSyncPhase({
      databaseUrl: postgres.env.CLIENTMAIL_TEST_DATABASE_URL,
      firmId: firm.id,
      mailboxId: mailbox.id,
      imap: {
        host: dovecot.host,
        port: dovecot.port,
        user: user.user,
        password: user.password,
        folders: ["INBOX"],
      },
      storage: { blobDir, documentsDir },
    });
    if (phase.outcome !== "ok") throw new Error(`sync ended ${phase.outcome}`);
    if (phase.filed !== count) throw new Error(`filed ${phase.filed} of ${count} messages`);

    // Every attachment reached the documents whole.
    const saved = new Set<string>();
    for (const name of await readdir(documentsDir)) {
      if (!name.endsWith(".json")) continue;
      const info = JSON.parse(await readFile(join(documentsDir, name), "utf8")) as {
        documentId: string;
        contentHash: string;
      };
      const size = (await stat(join(documentsDir, info.documentId))).size;
      if (size !== attachmentBytes) throw new Error(`document ${info.documentId} has ${size} bytes`);
      saved.add(info.contentHash);
    }
    if (saved.size !== hashes.size || [...hashes].some((h) => !saved.has(h)))
      throw new Error(`saved ${saved.size} of ${hashes.size} attachments`);

    console.log(
      `  clientmail backfill + attachment saves: ${count} msgs in ${phase.seconds.toFixed(2)} s ` +
        `(listing ${(phase.spent.changes / 1000).toFixed(2)} s, fetch+parse ${(phase.spent.fetch / 1000).toFixed(2)} s), ` +
        `${saved.size} documents of ${(attachmentBytes / 2 ** 20).toFixed(0)} MiB saved byte for byte`,
    );
    console.log(
      `  sync phase peak RSS: ${phase.peakRssMiB} MiB (target <= 256; the sync's own process: ` +
        `${phase.startRssMiB} MiB before it started, ${phase.sampledPeakRssMiB} MiB sampled peak during it)`,
    );
    if (phase.peakRssMiB > 256) process.exitCode = 1;
  } finally {
    await pool.end();
    await dovecot.stop();
    await postgres.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
