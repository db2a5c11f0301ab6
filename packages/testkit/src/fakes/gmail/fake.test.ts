import { getResponse } from "msw";
import { describe, expect, it } from "vitest";
import { buildRawMessage } from "./compose.js";
import { createGmailFake, type GmailFakeOptions } from "./fake.js";
import { gmailFailures, mailSendingLimitFailure } from "./failures.js";

const base = "https://gmail.googleapis.com/gmail/v1/users/me";

function virtualClock(start = Date.UTC(2026, 0, 10, 12)) {
  let now = start;
  return { clock: { now: () => new Date(now) }, advance: (ms: number) => (now += ms) };
}

async function setup(options: GmailFakeOptions = {}) {
  const time = virtualClock();
  const fake = createGmailFake({ clock: time.clock, ...options });
  const mailbox = fake.addUser("ann@firm.com");
  const tokenResponse = await fake.fetch("https://oauth2.googleapis.com/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "refresh_token",
      client_id: fake.oauthClient.clientId,
      client_secret: fake.oauthClient.clientSecret,
      refresh_token: fake.refreshTokenOf("ann@firm.com")!,
    }).toString(),
  });
  const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
  const get = async (path: string) => {
    const response = await fake.fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, text: await response.text(), response };
  };
  const getJson = async <T = Record<string, unknown>>(path: string) =>
    JSON.parse((await get(path)).text) as T;
  const post = async (path: string, body: unknown) => {
    const response = await fake.fetch(`${base}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: response.status, text: await response.text() };
  };
  return { fake, mailbox, time, token, get, getJson, post };
}

function message(input: Partial<Parameters<typeof buildRawMessage>[0]> = {}) {
  return buildRawMessage({
    from: "cfo@acme.com",
    to: "ann@firm.com",
    subject: "Q3 figures",
    text: "Hello",
    ...input,
  });
}

describe("Gmail fake: history.list", () => {
  it("pages records in ascending historyId order and answers {historyId} only when nothing changed", async () => {
    const { mailbox, getJson } = await setup();
    const start = mailbox.historyId;
    const added = [1, 2, 3].map((n) => mailbox.addMessage({ raw: message({ subject: `m${n}` }) }));
    const first = await getJson<{
      history: { id: string; messagesAdded: { message: { id: string } }[] }[];
      nextPageToken: string;
      historyId: string;
    }>(`/history?startHistoryId=${start}&maxResults=2`);
    expect(first.history.map((record) => record.messagesAdded[0]!.message.id)).toEqual([
      added[0]!.id,
      added[1]!.id,
    ]);
    expect(Number(first.history[0]!.id)).toBeLessThan(Number(first.history[1]!.id));
    expect(first.historyId).toBe(String(mailbox.historyId));
    const second = await getJson<{ history: unknown[]; nextPageToken?: string }>(
      `/history?startHistoryId=${start}&maxResults=2&pageToken=${first.nextPageToken}`,
    );
    expect(second.history).toHaveLength(1);
    expect(second.nextPageToken).toBeUndefined();
    expect(await getJson(`/history?startHistoryId=${mailbox.historyId}`)).toEqual({
      historyId: String(mailbox.historyId),
    });
  });

  it("history ids are not contiguous", async () => {
    const { mailbox } = await setup();
    const ids = [1, 2, 3, 4, 5, 6].map(() => mailbox.addMessage({ raw: message() }).historyId);
    const gaps = ids.slice(1).map((id, index) => id - ids[index]!);
    expect(gaps.some((gap) => gap > 1)).toBe(true);
  });

  it("serves empty pages that still carry a nextPageToken", async () => {
    const { mailbox, getJson } = await setup({ emptyHistoryPages: 2 });
    const start = mailbox.historyId;
    mailbox.addMessage({ raw: message() });
    const first = await getJson<{ history?: unknown[]; nextPageToken?: string }>(
      `/history?startHistoryId=${start}`,
    );
    expect(first.history).toBeUndefined();
    expect(first.nextPageToken).toBeDefined();
    const second = await getJson<{ history?: unknown[]; nextPageToken?: string }>(
      `/history?startHistoryId=${start}&pageToken=${first.nextPageToken}`,
    );
    expect(second.history).toBeUndefined();
    const third = await getJson<{ history?: unknown[]; nextPageToken?: string }>(
      `/history?startHistoryId=${start}&pageToken=${second.nextPageToken}`,
    );
    expect(third.history).toHaveLength(1);
  });

  it("answers 404 notFound for an expired startHistoryId and 400 for a malformed one", async () => {
    const { mailbox, get } = await setup();
    const start = mailbox.historyId;
    mailbox.addMessage({ raw: message() });
    mailbox.expireHistory();
    const expired = await get(`/history?startHistoryId=${start}`);
    expect(expired.status).toBe(404);
    expect(expired.text).toBe(gmailFailures.notFound.body);
    expect(JSON.parse(expired.text).error.errors[0].reason).toBe("notFound");
    const malformed = await get(`/history?startHistoryId=abc`);
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.text).error.message).toBe("Missing/invalid parameter: startHistoryId");
  });

  it("expires records older than the retention period", async () => {
    const { mailbox, get, time } = await setup({
      historyRetentionMs: 3_600_000,
      accessTokenLifetimeMs: 86_400_000,
    });
    const start = mailbox.historyId;
    mailbox.addMessage({ raw: message() });
    time.advance(2 * 3_600_000);
    mailbox.addMessage({ raw: message() });
    expect((await get(`/history?startHistoryId=${start}`)).status).toBe(404);
  });

  it("filters by historyTypes and reports deletions and label changes", async () => {
    const { mailbox, getJson } = await setup();
    const kept = mailbox.addMessage({ raw: message() });
    const gone = mailbox.addMessage({ raw: message() });
    const start = mailbox.historyId;
    mailbox.modifyLabels(kept.id, ["STARRED"], ["UNREAD"]);
    mailbox.deleteMessage(gone.id);
    const all = await getJson<{ history: Record<string, unknown>[] }>(`/history?startHistoryId=${start}`);
    expect(all.history[0]!.labelsAdded).toEqual([
      { message: expect.objectContaining({ id: kept.id }), labelIds: ["STARRED"] },
    ]);
    expect(all.history[0]!.labelsRemoved).toEqual([
      { message: expect.objectContaining({ id: kept.id }), labelIds: ["UNREAD"] },
    ]);
    const deletions = await getJson<{ history: Record<string, unknown>[] }>(
      `/history?startHistoryId=${start}&historyTypes=messageDeleted`,
    );
    expect(deletions.history).toHaveLength(1);
    expect(deletions.history[0]!.messagesDeleted).toEqual([
      { message: expect.objectContaining({ id: gone.id }) },
    ]);
  });
});

describe("Gmail fake: messages.list q and messages.get formats", () => {
  it("evaluates the q operators the adapter uses", async () => {
    const { mailbox, getJson } = await setup();
    const jan = new Date(Date.UTC(2026, 0, 2, 12));
    const mar = new Date(Date.UTC(2026, 2, 2, 12));
    const a = mailbox.addMessage({
      raw: message({ from: "CFO <cfo@acme.com>", date: jan, messageId: "<a@acme.com>" }),
    });
    const b = mailbox.addMessage({
      raw: message({ from: "ann@firm.com", to: "x@beta.com", cc: "cc@acme.com", date: mar }),
      labelIds: ["SENT"],
    });
    const c = mailbox.addMessage({
      raw: message({ from: "ann@firm.com", to: "y@gamma.com", bcc: "secret@acme.com", date: mar }),
      labelIds: ["SENT"],
    });
    const d = mailbox.addMessage({ raw: message({ from: "news@shop.com", to: "ann@firm.com", date: mar }) });
    const spam = mailbox.addMessage({ raw: message({ from: "cfo@acme.com" }), labelIds: ["SPAM"] });
    const ids = async (q: string) =>
      (
        (await getJson<{ messages?: { id: string }[] }>(`/messages?q=${encodeURIComponent(q)}`)).messages ??
        []
      )
        .map((m) => m.id)
        .sort();
    expect(await ids("from:cfo@acme.com")).toEqual([a.id]);
    expect(await ids("from:fo@acme.com")).toEqual([]);
    expect(await ids("to:x@beta.com OR cc:cc@acme.com")).toEqual([b.id]);
    expect(await ids("{from:cfo@acme.com cc:cc@acme.com bcc:secret@acme.com}")).toEqual(
      [a.id, b.id, c.id].sort(),
    );
    expect(await ids("from:{cfo@acme.com news@shop.com}")).toEqual([a.id, d.id].sort());
    expect(await ids(`in:sent after:${Math.floor(Date.UTC(2026, 1, 1) / 1000)}`)).toEqual(
      [b.id, c.id].sort(),
    );
    expect(await ids("before:2026/02/01")).toEqual([a.id]);
    expect(await ids("rfc822msgid:<a@acme.com>")).toEqual([a.id]);
    expect(await ids("rfc822msgid:a@acme.com")).toEqual([a.id]);
    expect(await ids("-in:sent from:{cfo@acme.com news@shop.com}")).toEqual([a.id, d.id].sort());
    expect(await ids("in:anywhere from:cfo@acme.com")).toEqual([a.id, spam.id].sort());
  });

  it("pages newest first with resultSizeEstimate and answers an empty listing without messages", async () => {
    const { mailbox, getJson } = await setup();
    for (let n = 0; n < 5; n += 1)
      mailbox.addMessage({ raw: message({ date: new Date(Date.UTC(2026, 0, 1 + n)) }) });
    const first = await getJson<{
      messages: { id: string }[];
      nextPageToken: string;
      resultSizeEstimate: number;
    }>("/messages?maxResults=3");
    expect(first.messages).toHaveLength(3);
    expect(first.resultSizeEstimate).toBe(5);
    const second = await getJson<{ messages: { id: string }[]; nextPageToken?: string }>(
      `/messages?maxResults=3&pageToken=${first.nextPageToken}`,
    );
    expect(second.messages).toHaveLength(2);
    expect(second.nextPageToken).toBeUndefined();
    expect(new Set([...first.messages, ...second.messages].map((m) => m.id)).size).toBe(5);
    expect(await getJson("/messages?q=from:nobody@nowhere.com")).toEqual({ resultSizeEstimate: 0 });
  });

  it("refuses a q longer than the query-length limit", async () => {
    const { get } = await setup({ maxQueryLength: 50 });
    const response = await get(`/messages?q=${"from:a@b.com ".repeat(10)}`);
    expect(response.status).toBe(400);
    expect(response.text).toBe(gmailFailures.invalidQuery.body);
  });

  it("serves minimal, metadata with metadataHeaders, raw and full", async () => {
    const { mailbox, getJson, get } = await setup();
    const raw = buildRawMessage({
      from: "cfo@acme.com",
      to: "ann@firm.com",
      subject: "Invoice",
      messageId: "<inv@acme.com>",
      text: "See attached",
      attachments: [{ filename: "invoice.pdf", contentType: "application/pdf", content: "%PDF-1.4" }],
    });
    const stored = mailbox.addMessage({ raw });
    const minimal = await getJson(`/messages/${stored.id}?format=minimal`);
    expect(minimal).toMatchObject({
      id: stored.id,
      threadId: stored.threadId,
      labelIds: ["INBOX", "UNREAD"],
    });
    expect(minimal.payload).toBeUndefined();
    expect(minimal.raw).toBeUndefined();
    const metadata = await getJson<{ payload: { headers: { name: string; value: string }[] } }>(
      `/messages/${stored.id}?format=metadata&metadataHeaders=From&metadataHeaders=message-id`,
    );
    expect(metadata.payload.headers).toEqual([
      { name: "From", value: "cfo@acme.com" },
      { name: "Message-ID", value: "<inv@acme.com>" },
    ]);
    const rawResponse = await getJson<{ raw: string }>(`/messages/${stored.id}?format=raw`);
    expect(Buffer.from(rawResponse.raw, "base64url").toString("utf8")).toBe(raw);
    const full = await getJson<{
      payload: { mimeType: string; parts: { filename: string; body: { attachmentId?: string } }[] };
    }>(`/messages/${stored.id}`);
    expect(full.payload.mimeType).toBe("multipart/mixed");
    expect(full.payload.parts.map((part) => part.filename)).toEqual(["", "invoice.pdf"]);
    expect(full.payload.parts[1]!.body.attachmentId).toBeDefined();
    expect((await get(`/messages/ffff0000?format=raw`)).status).toBe(404);
  });
});

describe("Gmail fake: batch, quota and faults", () => {
  async function batch(fake: Awaited<ReturnType<typeof setup>>["fake"], token: string, paths: string[]) {
    const body =
      paths
        .map(
          (path, index) =>
            `--b\r\nContent-Type: application/http\r\nContent-ID: <item-${index}>\r\n\r\nGET ${path}\r\n\r\n`,
        )
        .join("") + "--b--\r\n";
    const response = await fake.fetch("https://gmail.googleapis.com/batch/gmail/v1", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "multipart/mixed; boundary=b" },
      body,
    });
    expect(response.status).toBe(200);
    const boundary = /boundary=(.+)$/.exec(response.headers.get("content-type")!)![1]!;
    return (await response.text())
      .split(`--${boundary}`)
      .filter((part) => part.includes("HTTP/1.1"))
      .map((part) => ({
        id: /response-(item-\d+)/.exec(part)![1],
        status: Number(/HTTP\/1\.1 (\d+)/.exec(part)![1]),
        body: part.slice(part.lastIndexOf("\r\n\r\n") + 4).trim(),
      }));
  }

  it("answers a batch with per-part statuses; the outer status stays 200", async () => {
    const { fake, mailbox, token } = await setup();
    const stored = mailbox.addMessage({ raw: message() });
    const parts = await batch(fake, token, [
      `/gmail/v1/users/me/messages/${stored.id}?format=minimal`,
      "/gmail/v1/users/me/messages/abc123?format=minimal",
    ]);
    expect(parts.map((part) => [part.id, part.status])).toEqual([
      ["item-0", 200],
      ["item-1", 404],
    ]);
    expect(parts[1]!.body).toBe(gmailFailures.notFound.body);
    expect(fake.unitsSpent("ann@firm.com")).toBe(10);
  });

  it("fails batch parts above the per-user concurrency cap with 429", async () => {
    const { fake, mailbox, token } = await setup({ concurrentRequestsPerUser: 2 });
    const stored = mailbox.addMessage({ raw: message() });
    const parts = await batch(
      fake,
      token,
      [1, 2, 3].map(() => `/gmail/v1/users/me/messages/${stored.id}?format=minimal`),
    );
    expect(parts.map((part) => part.status)).toEqual([200, 200, 429]);
    expect(parts[2]!.body).toBe(gmailFailures.tooManyConcurrentRequests.body);
  });

  it("counts quota units per method and refuses over the per-user limit with the real 403 body", async () => {
    const { fake, mailbox, get, time } = await setup({
      quota: { unitsPerUserPerMinute: 12, costs: { "users.messages.list": 4 } },
    });
    mailbox.addMessage({ raw: message() });
    expect((await get("/messages")).status).toBe(200);
    expect((await get("/history?startHistoryId=1")).status).toBe(404);
    expect(fake.unitsSpent("ann@firm.com")).toBe(6);
    expect((await get("/messages")).status).toBe(200);
    const refused = await get("/messages");
    expect(refused.status).toBe(403);
    expect(refused.text).toBe(gmailFailures.quotaExceededQueriesPerUser.body);
    expect(fake.unitsSpent("ann@firm.com")).toBe(10);
    time.advance(60_001);
    expect((await get("/messages")).status).toBe(200);
  });

  it("uses the 2026 body and costs when asked", async () => {
    const { fake, mailbox, get } = await setup({ quota: { regime: "2026", unitsPerUserPerMinute: 30 } });
    const stored = mailbox.addMessage({ raw: message() });
    expect(fake.costOf("users.messages.get")).toBe(20);
    expect((await get(`/messages/${stored.id}`)).status).toBe(200);
    const refused = await get(`/messages/${stored.id}`);
    expect(refused.text).toBe(gmailFailures.quotaExceededUnitsPerUser.body);
  });

  it("fails the next N calls of a method with a scripted failure, then recovers", async () => {
    const { fake, get } = await setup();
    fake.failNext("users.messages.list", 2, "resourceExhausted");
    fake.failNext("*", 1, mailSendingLimitFailure(new Date(Date.UTC(2026, 0, 10, 13))));
    const first = await get("/messages");
    expect(first.status).toBe(429);
    expect(first.text).toBe(gmailFailures.resourceExhausted.body);
    expect((await get("/messages")).status).toBe(429);
    const other = await get("/profile");
    expect(other.status).toBe(429);
    expect(JSON.parse(other.text).error.message).toContain(
      "Retry after 2026-01-10T13:00:00.000Z (Mail sending)",
    );
    expect((await get("/messages")).status).toBe(200);
    fake.failNext("users.messages.list", 1, "truncatedJson");
    const truncated = await get("/messages");
    expect(truncated.status).toBe(200);
    expect(() => JSON.parse(truncated.text) as unknown).toThrow();
  });
});

describe("Gmail fake: OAuth, send-as and push", () => {
  it("answers invalid_grant for a revoked refresh token and 401 for an expired access token", async () => {
    const { fake, get, time } = await setup({ accessTokenLifetimeMs: 60_000 });
    const refresh = fake.refreshTokenOf("ann@firm.com")!;
    time.advance(61_000);
    const expired = await get("/profile");
    expect(expired.status).toBe(401);
    expect(expired.text).toBe(gmailFailures.unauthenticated.body);
    fake.revokeUser("ann@firm.com");
    const response = await fake.fetch("https://oauth2.googleapis.com/token", {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "refresh_token",
        client_id: fake.oauthClient.clientId,
        client_secret: fake.oauthClient.clientSecret,
        refresh_token: refresh,
      }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: "invalid_grant",
      error_description: "Token has been expired or revoked.",
    });
  });

  it("rewrites a From that is not an accepted send-as alias to the primary address", async () => {
    const { fake, mailbox, post } = await setup();
    mailbox.addAlias("billing@firm.com");
    mailbox.addAlias("pending@firm.com", "pending");
    const bob = fake.addUser("bob@firm.com");
    const send = async (from: string) => {
      const raw = Buffer.from(`From: ${from}\r\nTo: bob@firm.com\r\nSubject: hi\r\n\r\nbody`).toString(
        "base64url",
      );
      const result = await post("/messages/send", { raw });
      expect(result.status).toBe(200);
      const { id } = JSON.parse(result.text) as { id: string };
      return mailbox.messages.get(id)!;
    };
    expect((await send("Billing <billing@firm.com>")).headers.find((h) => h.name === "From")!.value).toBe(
      "Billing <billing@firm.com>",
    );
    expect((await send("pending@firm.com")).headers.find((h) => h.name === "From")!.value).toBe(
      "ann@firm.com",
    );
    const spoofed = await send("ceo@firm.com");
    expect(spoofed.headers.find((h) => h.name === "From")!.value).toBe("ann@firm.com");
    expect(spoofed.labelIds).toEqual(["SENT"]);
    expect(spoofed.headers.find((h) => h.name === "Message-ID")).toBeDefined();
    expect(bob.messages.size).toBe(3);
    const noRecipient = await post("/messages/send", {
      raw: Buffer.from("From: ann@firm.com\r\nSubject: x\r\n\r\nb").toString("base64url"),
    });
    expect(noRecipient.status).toBe(400);
    expect(JSON.parse(noRecipient.text).error.message).toBe("Recipient address required");
  });

  it("users.watch pushes {emailAddress, historyId} at most once per second and refuses an unauthorised topic", async () => {
    const { fake, mailbox, post, time } = await setup();
    const pushes: string[] = [];
    fake.onPush((push) => pushes.push(Buffer.from(push.message.data, "base64url").toString("utf8")));
    const watched = await post("/watch", { topicName: "projects/p/topics/gmail" });
    expect(JSON.parse(watched.text)).toEqual({
      historyId: String(mailbox.historyId),
      expiration: String(time.clock.now().getTime() + 7 * 86_400_000),
    });
    mailbox.addMessage({ raw: message() });
    mailbox.addMessage({ raw: message() });
    time.advance(1500);
    mailbox.addMessage({ raw: message() });
    expect(pushes).toHaveLength(2);
    expect(JSON.parse(pushes[1]!)).toEqual({
      emailAddress: "ann@firm.com",
      historyId: String(mailbox.historyId),
    });
    fake.failNext("users.watch", 1, "pubsubForbidden");
    const refused = await post("/watch", { topicName: "projects/p/topics/other" });
    expect(refused.status).toBe(403);
    expect(refused.text).toBe(gmailFailures.pubsubForbidden.body);
  });
});

describe("Gmail fake: msw handlers", () => {
  it("answers through msw's request handlers (what setupServer and setupWorker use)", async () => {
    const fake = createGmailFake();
    fake.addUser("ann@firm.com").addMessage({ raw: message() });
    const tokenRequest = new Request("https://oauth2.googleapis.com/token", {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "refresh_token",
        client_id: fake.oauthClient.clientId,
        client_secret: fake.oauthClient.clientSecret,
        refresh_token: fake.refreshTokenOf("ann@firm.com")!,
      }),
    });
    const token = (await (await getResponse(fake.handlers, tokenRequest))!.json()) as {
      access_token: string;
    };
    const profile = await getResponse(
      fake.handlers,
      new Request(`${base}/profile`, { headers: { authorization: `Bearer ${token.access_token}` } }),
    );
    expect(await profile!.json()).toMatchObject({ emailAddress: "ann@firm.com", messagesTotal: 1 });
    expect(await getResponse(fake.handlers, new Request("https://example.com/other"))).toBeUndefined();
  });
});
