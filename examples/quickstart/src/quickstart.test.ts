/**
 * The quickstart runs as a user runs it (`pnpm start`): it files the client mail from its IMAP
 * mailboxes, backfills a newly synced address, explains what it did, and exits on its own.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { dovecotAvailability } from "@clientmail/testkit";

const availability = dovecotAvailability();
const skip = availability.available ? undefined : availability.reason;

describe.skipIf(skip !== undefined)(`quickstart${skip ? ` (skipped: ${skip})` : ""}`, () => {
  it("F1 F4 H1 T7 Y5: files the client mail through the front door, backfills Sam's history, and exits by itself", async () => {
    const cwd = fileURLToPath(new URL("..", import.meta.url));
    const child = spawn("npx", ["tsx", "--conditions=@clientmail/source", "src/main.ts"], { cwd });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code, output).toBe(0);
    expect(output).toMatch(/9 messages examined, 5 filed as client mail/);
    const [before, after] = output.split("Email sync turned on for sam@home-mail.net");
    expect(before).not.toMatch(/Birthday party/);
    expect(after).toMatch(/Birthday party/);
    expect(output).not.toMatch(/50% off|Lunch\?/);
    expect(output).toMatch(/the process exits/);
  }, 90_000);
});
