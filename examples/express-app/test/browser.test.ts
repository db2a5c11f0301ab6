/**
 * The demo in a real browser: Debian's Chromium driven by playwright-core. It signs in, turns
 * email sync on for a contact and watches the backfilled thread appear, replies and sees the reply
 * in the thread, opens the hostile HTML email and checks that nothing in it ran or loaded, and
 * saves screenshots of the Email tab (a thread, and the Inbox view) to docs/images/.
 *
 * Chromium comes from the distribution (scripts/test.mjs installs it on Debian/Ubuntu as root).
 * Where it is missing the test is skipped with the reason — except under CI, where it fails.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "@clientmail/core";
import { createApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { demoPassword, startDemo, type Demo } from "../src/demo/index.js";
import { openServices, type Services } from "../src/services.js";

const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
const executablePath = candidates.find((path): path is string => !!path && existsSync(path));
const underCi = !!process.env.CI && process.env.CI !== "false" && process.env.CI !== "0";
const imagesDir = fileURLToPath(new URL("../../../docs/images/", import.meta.url));

if (!executablePath && !underCi)
  console.warn(
    "[browser.test] skipped: Chromium was not found (looked at CHROMIUM_PATH, /usr/bin/chromium, " +
      "/usr/bin/chromium-browser). On Debian/Ubuntu, `pnpm test` as root installs it (apt-get install chromium).",
  );

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Reloads `page` until `probe` holds (the Email tab also refreshes itself while sync works). */
async function untilShown(page: Page, probe: () => Promise<boolean>, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(500);
    await page.reload();
  }
}

describe.skipIf(!executablePath && !underCi)("the demo in Chromium", () => {
  let dataDir: string;
  let services: Services;
  let demo: Demo;
  let server: Server;
  let browser: Browser;
  let url: string;

  beforeAll(async () => {
    if (!executablePath)
      throw new Error("Chromium is required under CI (set CHROMIUM_PATH or install Debian's chromium).");
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    dataDir = await mkdtemp(join(tmpdir(), "clientmail-browser-"));
    services = await openServices(
      loadConfig({ DEMO: "on", DATA_DIR: dataDir, LOG_LEVEL: "silent", PORT: String(port), PUBLIC_URL: url }),
      { logger: silentLogger },
    );
    demo = await startDemo(services, { arrivalAfterMs: false });
    const app = createApp(services);
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(port, "127.0.0.1", () => resolve(listening));
    });
    await services.cm.start();
    browser = await chromium.launch({
      executablePath,
      headless: true,
      // Root in a container has no user namespaces for Chromium's sandbox; the pages are our own.
      args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await services?.close();
    await demo?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("T7 S6 S5: signs in, turns email sync on, sees the backfilled thread, replies and sees the reply; a hostile email runs no script", async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    const dialogs: string[] = [];
    const trapRequests: string[] = [];
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    context.on("request", (request) => {
      if (!request.url().startsWith(url)) trapRequests.push(request.url());
    });

    // Sign in (the demo's owner).
    await page.goto(url);
    expect(new URL(page.url()).pathname).toBe("/signin");
    await page.getByLabel("Email").fill(demo.members.owner.email);
    await page.getByLabel("Password").fill(demoPassword);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${url}/accounts`);
    expect(await page.getByRole("row", { name: /Jordan's Bakery Ltd/ }).textContent()).toContain(
      "Pending activation",
    );

    // T7: email sync on for Maria in the Rivera family's Info tab.
    await page.getByRole("link", { name: "The Rivera family" }).click();
    const maria = "maria.rivera@rivera-home.example";
    await page.getByRole("button", { name: `Email sync for ${maria}: off` }).click();
    await page.getByRole("button", { name: `Email sync for ${maria}: on` }).waitFor();
    expect(await page.getByRole("status").first().textContent()).toContain(`Email sync is on for ${maria}`);

    // The Email tab appears (T8) and the backfilled history shows up in it.
    await page.getByRole("navigation", { name: "Account" }).getByRole("link", { name: "Email" }).click();
    const thread = page.getByRole("link", { name: "Mortgage interest certificate" });
    await untilShown(page, async () => (await thread.count()) > 0, "the backfilled thread");
    await thread.click();
    const messages = page.locator("article.message");
    const before = await messages.count();
    expect(before).toBeGreaterThanOrEqual(2);

    // Reply, and see the reply in the thread once the worker sent it (S5: filed at once).
    const replyText = "Thank you Maria, the certificate is exactly what we needed.";
    await page.getByLabel("Your reply").fill(replyText);
    await page.getByRole("button", { name: "Send reply" }).click();
    await page.getByText("Your reply is being sent").waitFor();
    await untilShown(page, async () => (await messages.count()) === before + 1, "the reply in the thread");
    const last = messages.last();
    expect(await last.getAttribute("class")).toContain("outbound");
    const replyFrame = await (await last.locator("iframe").elementHandle()).contentFrame();
    await replyFrame!.waitForLoadState();
    expect(await replyFrame!.locator("body").textContent()).toContain(replyText);
    await mkdir(imagesDir, { recursive: true });
    // Frames below the viewport are not painted: make the whole thread visible before the shot.
    await page.setViewportSize({ width: 1200, height: 1800 });
    await page.waitForTimeout(1000);
    await page.screenshot({ path: join(imagesDir, "email-tab.png"), fullPage: true });
    // The Email tab's Inbox view, with the backfilled threads.
    await page.getByRole("link", { name: "Back to the Email tab" }).click();
    await page.getByRole("link", { name: "Question about our 2025 tax return" }).waitFor();
    expect(await page.getByRole("status").first().textContent()).toContain("Fetching the history");
    await page.setViewportSize({ width: 1200, height: 700 });
    await page.screenshot({ path: join(imagesDir, "email-tab-inbox.png") });

    // The hostile email (Northwind): shown, sandboxed, inert.
    await page.goto(`${url}/accounts/${demo.accounts.northwind.account.id}/email`);
    await page.getByRole("link", { name: "Northwind invoice for October" }).click();
    const frameHandle = await page.locator("article.message iframe").first().elementHandle();
    const sandbox = await frameHandle.getAttribute("sandbox");
    expect(sandbox).not.toContain("allow-scripts");
    expect(sandbox).not.toContain("allow-same-origin");
    const frame = await frameHandle.contentFrame();
    await frame!.waitForLoadState("load");
    expect(await frame!.locator("body").textContent()).toContain("October invoice");
    await page.waitForTimeout(500);
    expect(await frame!.locator("script, form, iframe, [onerror], [onload]").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(trapRequests).toEqual([]);
    await context.close();
  }, 120_000);
});
