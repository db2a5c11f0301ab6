/**
 * The demo on the embedded default, through the real IMAP provider, the filing rules and the
 * workers: what a newcomer sees when they run the README's first command.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger, type ClientMail } from "@clientmail/core";
import { loadConfig } from "../src/config.js";
import { startDemo, type Demo } from "../src/demo/index.js";
import { openServices, type Services } from "../src/services.js";

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function subjects(cm: ClientMail, firmId: string, accountId: string): Promise<string[]> {
  const threads = await cm.accountThreads(firmId, accountId);
  return threads.flatMap((thread) => thread.messages.map((message) => message.subject)).sort();
}

describe("the demo", () => {
  let dataDir: string;
  let services: Services;
  let demo: Demo;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "clientmail-demo-"));
    services = await openServices(loadConfig({ DEMO: "on", DATA_DIR: dataDir, LOG_LEVEL: "silent" }), {
      logger: silentLogger,
    });
    demo = await startDemo(services, { arrivalAfterMs: false });
    await services.cm.start();
  });
  afterAll(async () => {
    await services?.close();
    await demo?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("F1 F3: files the clients' mail from the in-process IMAP server, and none of the personal or internal mail", async () => {
    const { cm } = services;
    const firmId = demo.firm.id;
    const bakery = await until(async () => {
      const found = await subjects(cm, firmId, demo.accounts.bakery.account.id);
      return found.length === 3 ? found : undefined;
    }, "the bakery's thread");
    expect(bakery).toEqual([
      "Q3 VAT return: receipts attached",
      "Re: Q3 VAT return: receipts attached",
      "Re: Q3 VAT return: receipts attached",
    ]);
    const threads = await cm.accountThreads(firmId, demo.accounts.bakery.account.id);
    expect(threads).toHaveLength(1);
    expect(await subjects(cm, firmId, demo.accounts.northwind.account.id)).toEqual([
      "Northwind invoice for October",
    ]);
    // Email sync is off for the Rivera family: their history is not copied (yet).
    expect(await subjects(cm, firmId, demo.accounts.rivera.account.id)).toEqual([]);
    const everything = (
      await Promise.all(
        Object.values(demo.accounts).map((overview) => subjects(cm, firmId, overview.account.id)),
      )
    ).flat();
    for (const personal of ["Sunday lunch?", "Your weekly run club digest", "Team lunch on Friday"])
      expect(everything).not.toContain(personal);
  });

  it("T7: turning email sync on for Maria backfills the Rivera family's history", async () => {
    const { cm } = services;
    const firmId = demo.firm.id;
    const maria = demo.accounts.rivera.links.find((link) => link.email.startsWith("maria"))!;
    await cm.updateLink(firmId, maria.id, { emailSync: true });
    const history = await until(async () => {
      const found = await subjects(cm, firmId, demo.accounts.rivera.account.id);
      return found.length === 3 ? found : undefined;
    }, "Maria's history");
    expect(history).toEqual([
      "Mortgage interest certificate",
      "Question about our 2025 tax return",
      "Re: Mortgage interest certificate",
    ]);
  });

  it("S6 H1: a reply goes out through the demo SMTP server and comes back into the same thread", async () => {
    const { cm } = services;
    const firmId = demo.firm.id;
    const [thread] = await cm.accountThreads(firmId, demo.accounts.bakery.account.id);
    await cm.reply(firmId, {
      actor: { kind: "member", memberId: demo.members.owner.id },
      threadId: thread!.threadId,
      text: "Nothing else for now, Jo. Have a good week!",
    });
    await until(async () => {
      const [after] = await cm.accountThreads(firmId, demo.accounts.bakery.account.id);
      return after?.threadId === thread!.threadId && after.messages.length === 4 ? after : undefined;
    }, "the reply in the thread");
    expect(demo.mailServer.accepted.at(-1)?.to).toEqual(["jo@jordans-bakery.example"]);
    expect(await cm.accountThreads(firmId, demo.accounts.bakery.account.id)).toHaveLength(1);
  });

  it("files a client email that arrives while the demo runs", async () => {
    const { cm } = services;
    const { arrivingMail } = await import("../src/demo/mail.js");
    demo.mailServer.deliver(arrivingMail(new Date()));
    await cm.sync.requestSync(demo.firm.id, demo.mailbox.id);
    const found = await until(async () => {
      const all = await subjects(cm, demo.firm.id, demo.accounts.bakery.account.id);
      return all.includes("Payroll for November") ? all : undefined;
    }, "the new email");
    expect(found).toContain("Payroll for November");
  });
});

describe("the README's first command", () => {
  it("serves the demo at the printed URL within a minute", async () => {
    const started = Date.now();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--conditions=@clientmail/source", "src/main.ts"],
      {
        cwd: join(import.meta.dirname, ".."),
        env: {
          ...process.env,
          PORT: "0",
          DATA_DIR: await mkdtemp(join(tmpdir(), "clientmail-start-")),
          LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    try {
      let output = "";
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL printed within 60 s:\n${output}`)), 60_000);
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          const match = /clientmail example app: (http:\/\/\S+)/.exec(output);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
        child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
        child.on("exit", (code) => reject(new Error(`exited with ${code}:\n${output}`)));
      });
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(60_000);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(output).toContain('password "clientmail-demo"');
    } finally {
      child.kill("SIGTERM");
    }
  }, 90_000);
});
