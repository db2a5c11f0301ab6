import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("configuration", () => {
  it("with nothing set, runs the demo on the memory store, allowing its loopback mail servers (R9)", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ demo: true, PORT: 3000, ROLE: "all", publicUrl: "http://127.0.0.1:3000" });
    expect(config.MAIL_HOSTS_ALLOW).toEqual(["127.0.0.1/32"]);
    // Outside the demo, loopback mail servers stay refused unless listed.
    expect(
      loadConfig({ DEMO: "off", SESSION_SECRET: "s".repeat(32), KEYRING_KEYS: `k1:${"A".repeat(43)}` })
        .MAIL_HOSTS_ALLOW,
    ).toEqual([]);
  });

  it("names each bad variable with what was expected, without echoing secrets", () => {
    const found = problems({
      PORT: "70000",
      DATABASE_URL: "mysql://user:hunter2@db/x",
      SESSION_SECRET: "short-secret-value",
      GOOGLE_CLIENT_ID: "1234.apps.googleusercontent.com",
    });
    expect(found.find((line) => line.startsWith("PORT"))).toContain('"70000"');
    expect(found.some((line) => line.startsWith("DATABASE_URL (set)"))).toBe(true);
    expect(found.some((line) => line.startsWith("SESSION_SECRET (set): at least 32 characters"))).toBe(true);
    expect(found.some((line) => line.startsWith("GOOGLE_CLIENT_SECRET"))).toBe(true);
    expect(found.join("\n")).not.toContain("hunter2");
    expect(found.join("\n")).not.toContain("short-secret-value");
  });

  it("requires SESSION_SECRET and KEYRING_KEYS outside the demo, and DATABASE_URL for separate API and worker processes", () => {
    const found = problems({ DEMO: "off", ROLE: "worker" });
    expect(found).toEqual([
      expect.stringMatching(/^SESSION_SECRET \(missing\)/),
      expect.stringMatching(/^KEYRING_KEYS \(missing\)/),
      expect.stringMatching(/^ROLE \("worker"\): .*set DATABASE_URL/),
    ]);
  });
});
