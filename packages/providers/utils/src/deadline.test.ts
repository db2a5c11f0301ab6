import { describe, expect, it } from "vitest";
import { ClientMailError } from "@clientmail/core";
import { withDeadline } from "./deadline.js";
import { sleep } from "@clientmail/core";

const scope = { provider: "test", operation: "fetch" };

describe("withDeadline", () => {
  it("R3: an operation that never completes fails as transient at its deadline, and what it holds is closed", async () => {
    let closedWith: ClientMailError | undefined;
    const started = Date.now();
    const error = await withDeadline(
      { ...scope, timeoutMs: 150, onAbort: (reason) => (closedWith = reason) },
      () => new Promise<never>(() => undefined),
    ).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(ClientMailError.hasCode(error, "transient")).toBe(true);
    expect((error as ClientMailError).retryable).toBe(true);
    expect((error as ClientMailError).details).toMatchObject({ reason: "deadline_exceeded", timeoutMs: 150 });
    expect(closedWith).toBe(error);
  });

  it("R3: the caller's abort ends the operation promptly with the abort's reason", async () => {
    const controller = new AbortController();
    const reason = new ClientMailError("lease_lost", "another worker took over");
    setTimeout(() => controller.abort(reason), 50);
    const started = Date.now();
    const error = await withDeadline({ ...scope, timeoutMs: 60_000, signal: controller.signal }, (signal) =>
      sleep(60_000, signal),
    ).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(error).toBe(reason);
  });

  it("passes the work's own result and failure through, and clears its timer", async () => {
    await expect(withDeadline({ ...scope, timeoutMs: 1000 }, async () => 42)).resolves.toBe(42);
    await expect(
      withDeadline({ ...scope, timeoutMs: 1000 }, async () => {
        throw new ClientMailError("not_found", "gone");
      }),
    ).rejects.toMatchObject({ code: "not_found" });
  });
});
