import { setupServer } from "msw/node";
import { describe, expect, it } from "vitest";
import { createGraphFake, graphFaults, syncStateNotFoundMessage, type GraphFake } from "./index.js";

const base = "https://graph.microsoft.com/v1.0";

function setup(options: Parameters<typeof createGraphFake>[0] = {}) {
  let now = new Date("2026-03-02T09:00:00Z").getTime();
  const clock = { now: () => new Date(now), advance: (ms: number) => void (now += ms) };
  const fake = createGraphFake({ clock, ...options });
  const mailbox = fake.addMailbox("ann@firm.example");
  const token = fake.accessTokenFor("ann@firm.example");
  const get = (url: string, headers: Record<string, string> = {}) =>
    fake.fetch(url.startsWith("http") ? url : `${base}${url}`, {
      headers: { Authorization: `Bearer ${token}`, ...headers },
    });
  const post = (url: string, body: unknown, method = "POST") =>
    fake.fetch(`${base}${url}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  return { fake, mailbox, token, get, post, clock };
}

function add(mailbox: ReturnType<GraphFake["addMailbox"]>, i: number, folder = "inbox") {
  return mailbox.addMessage({
    folder,
    from: { name: "Carla", address: "carla@client.example" },
    to: ["ann@firm.example"],
    subject: `Invoice ${i}`,
    text: `Body ${i}`,
    date: new Date(Date.UTC(2026, 1, 1, 9, i)),
    inReplyTo: i > 0 ? "<root@client.example>" : undefined,
  });
}

async function json(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

describe("Graph fake: delta", () => {
  it("pages with Prefer odata.maxpagesize, ends with a deltaLink, and applies $select", async () => {
    const { mailbox, get } = setup();
    for (let i = 0; i < 5; i++) add(mailbox, i);
    const first = await get("/me/mailFolders/inbox/messages/delta?$select=subject,from", {
      Prefer: "odata.maxpagesize=2",
    });
    expect(first.headers.get("Preference-Applied")).toContain("odata.maxpagesize=2");
    const page1 = await json(first);
    expect(page1.value).toHaveLength(2);
    expect(Object.keys((page1.value as object[])[0]!).sort()).toEqual([
      "@odata.etag",
      "@odata.type",
      "from",
      "id",
      "subject",
    ]);
    expect(page1["@odata.deltaLink"]).toBeUndefined();
    const page2 = await json(await get(page1["@odata.nextLink"] as string));
    const page3 = await json(await get(page2["@odata.nextLink"] as string));
    expect(page3.value).toHaveLength(1);
    expect(page3["@odata.deltaLink"]).toMatch(/\$deltatoken=/);
    const quiet = await json(await get(page3["@odata.deltaLink"] as string));
    expect(quiet.value).toEqual([]);
  });

  it("reports deletions as @removed and moves out of the folder too", async () => {
    const { mailbox, get } = setup();
    const [a, b] = [add(mailbox, 0), add(mailbox, 1)];
    const round = await json(
      await get("/me/mailFolders/inbox/messages/delta", { Prefer: 'IdType="ImmutableId"' }),
    );
    mailbox.deleteMessage(a);
    mailbox.moveMessage(b, "archive");
    const next = await json(
      await get(round["@odata.deltaLink"] as string, { Prefer: 'IdType="ImmutableId"' }),
    );
    expect(next.value).toEqual([
      { "@odata.type": "#microsoft.graph.message", id: a, "@removed": { reason: "deleted" } },
      { "@odata.type": "#microsoft.graph.message", id: b, "@removed": { reason: "deleted" } },
    ]);
  });

  it("REST ids change on move; immutable ids (Prefer IdType) do not", async () => {
    const { mailbox, get } = setup();
    const id = add(mailbox, 0);
    const rest = (
      (await json(await get("/me/mailFolders/inbox/messages/delta"))).value as { id: string }[]
    )[0]!.id;
    const immutable = await get("/me/mailFolders/inbox/messages/delta", { Prefer: 'IdType="ImmutableId"' });
    expect(immutable.headers.get("Preference-Applied")).toBe('IdType="ImmutableId"');
    expect(((await json(immutable)).value as { id: string }[])[0]!.id).toBe(id);
    expect(rest).not.toBe(id);
    mailbox.moveMessage(id, "archive");
    expect((await get(`/me/messages/${rest}`)).status).toBe(404);
    expect((await get(`/me/messages/${id}`)).status).toBe(200);
  });

  it("answers 410 SyncStateNotFound with the verbatim body once tokens expire", async () => {
    const { mailbox, get } = setup();
    add(mailbox, 0);
    const round = await json(await get("/me/mailFolders/inbox/messages/delta"));
    mailbox.expireDeltaTokens();
    const response = await get(round["@odata.deltaLink"] as string);
    expect(response.status).toBe(410);
    const body = (await json(response)) as { error: { code: string; message: string; innerError: object } };
    expect(body.error.code).toBe("SyncStateNotFound");
    expect(body.error.message).toBe(syncStateNotFoundMessage);
    expect(body.error.message).toBe(
      "The sync state generation is not found; generation=149;[highest=157][157][155][156].",
    );
    expect(Object.keys(body.error.innerError)).toEqual(["date", "request-id", "client-request-id"]);
  });

  it("an empty $deltatoken (the resyncRequired Location) starts a full round", async () => {
    const { mailbox, get } = setup();
    add(mailbox, 0);
    const page = await json(await get("/me/mailFolders/inbox/messages/delta?$deltatoken="));
    expect(page.value).toHaveLength(1);
  });

  it("quirks: empty pages with a nextLink, duplicates and replays", async () => {
    const { mailbox, get } = setup({
      quirks: { emptyPagesPerRound: 2, duplicateItems: true, replayOverlap: 1 },
    });
    const [a, b] = [add(mailbox, 0), add(mailbox, 1)];
    let page = await json(
      await get("/me/mailFolders/inbox/messages/delta", { Prefer: 'IdType="ImmutableId"' }),
    );
    const ids: string[] = [];
    let empty = 0;
    while (page["@odata.nextLink"]) {
      if ((page.value as unknown[]).length === 0) empty++;
      ids.push(...(page.value as { id: string }[]).map((v) => v.id));
      page = await json(await get(page["@odata.nextLink"] as string, { Prefer: 'IdType="ImmutableId"' }));
    }
    ids.push(...(page.value as { id: string }[]).map((v) => v.id));
    expect(empty).toBe(2);
    expect(ids.sort()).toEqual([a, b, b].sort());
    // The delta link points one change back, so the last change comes again.
    let replay = await json(
      await get(page["@odata.deltaLink"] as string, { Prefer: 'IdType="ImmutableId"' }),
    );
    const replayed: string[] = [];
    for (;;) {
      replayed.push(...(replay.value as { id: string }[]).map((v) => v.id));
      if (!replay["@odata.nextLink"]) break;
      replay = await json(await get(replay["@odata.nextLink"] as string, { Prefer: 'IdType="ImmutableId"' }));
    }
    expect(replayed).toContain(b);
  });
});

describe("Graph fake: messages", () => {
  it("returns internetMessageHeaders only when selected, never for Sent Items, and the MIME source on $value", async () => {
    const { mailbox, get } = setup();
    const received = add(mailbox, 1);
    const sent = add(mailbox, 2, "sentitems");
    const plain = await json(await get(`/me/messages/${received}`));
    expect(plain.internetMessageHeaders).toBeUndefined();
    const withHeaders = await json(await get(`/me/messages/${received}?$select=internetMessageHeaders`));
    expect(withHeaders.internetMessageHeaders).toContainEqual({
      name: "In-Reply-To",
      value: "<root@client.example>",
    });
    const sentHeaders = await json(await get(`/me/messages/${sent}?$select=internetMessageHeaders`));
    expect(sentHeaders.internetMessageHeaders).toBeUndefined();
    const mime = await (await get(`/me/messages/${received}/$value`)).text();
    expect(mime).toContain("In-Reply-To: <root@client.example>");
    expect(mime).toContain("Subject: Invoice 1");
  });

  it("$search on participants and $filter on internetMessageId", async () => {
    const { mailbox, get } = setup();
    add(mailbox, 0);
    const other = mailbox.addMessage({
      from: "x@else.example",
      to: ["ann@firm.example"],
      cc: ["Carla@Client.example"],
      subject: "cc",
    });
    mailbox.addMessage({ from: "jocarla@client.example", to: ["ann@firm.example"], subject: "near miss" });
    const search = encodeURIComponent('"participants:carla@client.example"');
    const found = await json(
      await get(`/me/messages?$search=${search}&$select=subject`, { Prefer: 'IdType="ImmutableId"' }),
    );
    expect((found.value as { subject: string }[]).map((v) => v.subject).sort()).toEqual(["Invoice 0", "cc"]);
    const messageId = mailbox.message(other)!.internetMessageId!;
    const filtered = await json(
      await get(`/me/messages?$filter=${encodeURIComponent(`internetMessageId eq '${messageId}'`)}`),
    );
    expect(filtered.value).toHaveLength(1);
    expect((await get(`/me/messages?$search=${search}&$filter=isRead eq false`)).status).toBe(400);
  });

  it("Y5: $search returns at most searchResultLimit results (Microsoft's 1,000), then no nextLink", async () => {
    const { mailbox, get } = setup({ searchResultLimit: 30 });
    for (let i = 0; i < 45; i++) add(mailbox, i);
    const search = encodeURIComponent('"participants:carla@client.example"');
    let url: string | undefined = `/me/messages?$search=${search}&$select=subject&$top=20`;
    let total = 0;
    while (url !== undefined) {
      const page = await json(await get(url));
      total += (page.value as unknown[]).length;
      url = page["@odata.nextLink"] as string | undefined;
    }
    expect(total).toBe(30);
    // A plain listing has no such cap.
    const listed = await json(await get(`/me/mailFolders/inbox/messages?$top=100`));
    expect(listed.value).toHaveLength(45);
  });

  it("/users/{address} needs Full Access: 403 ErrorAccessDenied otherwise", async () => {
    const { fake, get } = setup();
    fake.addMailbox("support@firm.example", { delegates: ["ann@firm.example"] });
    fake.addMailbox("private@firm.example");
    expect((await get("/users/support@firm.example/mailFolders/inbox/messages/delta")).status).toBe(200);
    const denied = await get("/users/private@firm.example/mailFolders/inbox/messages/delta");
    expect(denied.status).toBe(403);
    expect(await denied.json()).toEqual({
      error: { code: "ErrorAccessDenied", message: "Access is denied. Check credentials and try again." },
    });
  });

  it("401 InvalidAuthenticationToken without a valid token", async () => {
    const { fake } = setup();
    const response = await fake.fetch(`${base}/me/messages`);
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      "InvalidAuthenticationToken",
    );
  });
});

describe("Graph fake: throttling and faults", () => {
  it("a 5th concurrent request to a mailbox gets 429 ApplicationThrottled, without Retry-After", async () => {
    const { mailbox, get, fake } = setup({ latencyMs: 30 });
    const id = add(mailbox, 0);
    const responses = await Promise.all(Array.from({ length: 5 }, () => get(`/me/messages/${id}`)));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    const throttled = responses.find((r) => r.status === 429)!;
    expect(throttled.headers.get("Retry-After")).toBeNull();
    expect(await throttled.json()).toEqual({
      error: { code: "ApplicationThrottled", message: "Application is over its MailboxConcurrency limit." },
    });
    expect(fake.maxConcurrencySeen("ann@firm.example")).toBe(4);
  });

  it("429 TooManyRequests past the per-mailbox budget (10,000 per 10 minutes), with Retry-After until it frees up", async () => {
    const { mailbox, get, clock } = setup({ mailboxRequestLimit: { requests: 3, windowMs: 60_000 } });
    const id = add(mailbox, 0);
    for (let i = 0; i < 3; i++) {
      expect((await get(`/me/messages/${id}`)).status).toBe(200);
      clock.advance(10_000);
    }
    const limited = await get(`/me/messages/${id}`);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("Retry-After")).toBe("30");
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe("TooManyRequests");
    clock.advance(30_000);
    expect((await get(`/me/messages/${id}`)).status).toBe(200);
  });

  it("failNext scripts N failures of one operation, with Retry-After in seconds or as a date", async () => {
    const { mailbox, get, fake, clock } = setup();
    const id = add(mailbox, 0);
    fake.failNext(2, "getMime", (now) => graphFaults.tooManyRequests(new Date(now.getTime() + 30_000), now));
    fake.failNext(1, "getMessage", graphFaults.tooManyRequests(10));
    const first = await get(`/me/messages/${id}/$value`);
    expect(first.status).toBe(429);
    expect(new Date(first.headers.get("Retry-After")!).getTime()).toBe(clock.now().getTime() + 30_000);
    const body = (await first.json()) as {
      error: { code: string; message: string; innerError: { code: string } };
    };
    expect(body.error).toMatchObject({
      code: "TooManyRequests",
      message: "Please retry again later.",
      innerError: { code: "429" },
    });
    expect((await get(`/me/messages/${id}/$value`)).status).toBe(429);
    expect((await get(`/me/messages/${id}/$value`)).status).toBe(200);
    const seconds = await get(`/me/messages/${id}`);
    expect(seconds.headers.get("Retry-After")).toBe("10");
    expect((await get(`/me/messages/${id}`)).status).toBe(200);
  });

  it("network errors reject fetch; truncated JSON is a 200 that does not parse", async () => {
    const { get, fake } = setup();
    fake.failNext(1, "any", graphFaults.networkError());
    await expect(get("/me/messages")).rejects.toThrow(TypeError);
    fake.failNext(1, "any", graphFaults.truncatedJson());
    const truncated = await get("/me/messages");
    expect(truncated.status).toBe(200);
    await expect(truncated.json()).rejects.toThrow();
  });

  it("the token endpoint answers invalid_grant for revoked refresh tokens", async () => {
    const { fake } = setup();
    const refresh = fake.issueRefreshToken("ann@firm.example");
    const ask = () =>
      fake.fetch("https://login.microsoftonline.com/common/oauth2/v2.0/token", {
        method: "POST",
        body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refresh }),
      });
    expect((await ask()).status).toBe(200);
    fake.revokeRefreshTokens("ann@firm.example");
    const revoked = await ask();
    expect(revoked.status).toBe(400);
    expect(((await revoked.json()) as { error: string }).error).toBe("invalid_grant");
  });

  it("works as msw handlers with setupServer and the global fetch", async () => {
    const { fake, mailbox, token } = setup();
    add(mailbox, 0);
    const server = setupServer(...fake.handlers);
    server.listen();
    try {
      const response = await fetch(`${base}/me/mailFolders/inbox/messages/delta`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(((await response.json()) as { value: unknown[] }).value).toHaveLength(1);
    } finally {
      server.close();
    }
  });
});

describe("Graph fake: $batch", () => {
  it("answers each item with its own status, in another order, and $value bodies in base64", async () => {
    const { mailbox, post } = setup();
    const id = add(mailbox, 0);
    const response = await post("/$batch", {
      requests: [
        { id: "1", method: "GET", url: `/me/messages/${id}?$select=subject` },
        { id: "2", method: "GET", url: "/me/messages/missing" },
        { id: "3", method: "GET", url: `/me/messages/${id}/$value` },
        { id: "4", method: "GET", url: "/me/messages/missing/$value", dependsOn: ["2"] },
      ],
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { responses: { id: string; status: number; body: unknown }[] };
    expect(body.responses.map((r) => r.id)).toEqual(["4", "3", "2", "1"]);
    const byId = new Map(body.responses.map((r) => [r.id, r]));
    expect(byId.get("1")!.status).toBe(200);
    expect(byId.get("2")!.status).toBe(404);
    expect(byId.get("4")!.status).toBe(424);
    expect(Buffer.from(byId.get("3")!.body as string, "base64").toString()).toContain("Subject: Invoice 0");
  });

  it("refuses more than 20 requests and duplicate ids with 400", async () => {
    const { post } = setup();
    const many = Array.from({ length: 21 }, (_, i) => ({
      id: String(i),
      method: "GET",
      url: "/me/messages",
    }));
    const tooMany = await post("/$batch", { requests: many });
    expect(tooMany.status).toBe(400);
    const duplicate = await post("/$batch", { requests: [many[0], many[0]] });
    expect(duplicate.status).toBe(400);
  });

  it("throttles inner requests individually (inner 429)", async () => {
    const { mailbox, post, fake } = setup();
    const id = add(mailbox, 0);
    fake.failNext(1, "getMessage", graphFaults.tooManyRequests(5));
    const body = (await (
      await post("/$batch", {
        requests: [
          { id: "a", method: "GET", url: `/me/messages/${id}` },
          { id: "b", method: "GET", url: `/me/messages/${id}` },
        ],
      })
    ).json()) as { responses: { id: string; status: number; headers: Record<string, string> }[] };
    const statuses = Object.fromEntries(body.responses.map((r) => [r.id, r.status]));
    expect(statuses).toEqual({ a: 429, b: 200 });
    expect(body.responses.find((r) => r.id === "a")!.headers["retry-after"]).toBe("5");
  });
});

describe("Graph fake: subscriptions", () => {
  const notificationUrl = "https://hooks.example/graph";

  function withReceiver(
    answer: (request: Request) => Promise<Response>,
    options: Parameters<typeof createGraphFake>[0] = {},
  ) {
    const received: Request[] = [];
    const env = setup({
      ...options,
      deliver: async (request) => {
        received.push(request.clone());
        return answer(request);
      },
    });
    return { ...env, received };
  }

  const echo = async (request: Request) => {
    const token = new URL(request.url).searchParams.get("validationToken");
    if (token !== null)
      return new Response(token, { status: 200, headers: { "Content-Type": "text/plain" } });
    return new Response(null, { status: 202 });
  };

  const create = (
    post: (u: string, b: unknown) => Promise<Response>,
    clock: { now(): Date },
    minutes: number,
    extra: object = {},
  ) =>
    post("/subscriptions", {
      changeType: "created,updated,deleted",
      notificationUrl,
      lifecycleNotificationUrl: notificationUrl,
      resource: "/me/mailFolders('inbox')/messages",
      expirationDateTime: new Date(clock.now().getTime() + minutes * 60_000).toISOString(),
      clientState: "secret-state",
      ...extra,
    });

  it("validates the endpoint (decoded token echoed as text/plain), then notifies with clientState", async () => {
    const { post, clock, received, mailbox, fake } = withReceiver(echo);
    const response = await create(post, clock, 4000);
    expect(response.status).toBe(201);
    const validation = received[0]!;
    expect(validation.headers.get("Content-Type")).toContain("text/plain");
    expect(new URL(validation.url).searchParams.get("validationToken")).toMatch(/^Validation: /);
    add(mailbox, 0);
    await fake.flushNotifications();
    const notification = (await received.at(-1)!.json()) as {
      value: { clientState: string; changeType: string; resourceData: { id: string } }[];
    };
    expect(notification.value[0]).toMatchObject({ clientState: "secret-state", changeType: "created" });
  });

  it("400 InvalidRequest when the endpoint does not echo the token, or too late", async () => {
    const wrong = withReceiver(
      async () => new Response("wrong", { status: 200, headers: { "Content-Type": "text/plain" } }),
    );
    const refused = await create(wrong.post, wrong.clock, 4000);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({
      error: {
        code: "InvalidRequest",
        message:
          "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
      },
    });
    const slow = withReceiver(
      async (request) => {
        await new Promise((resolve) => setTimeout(resolve, 200));
        return echo(request);
      },
      { validationTimeoutMs: 50 },
    );
    expect((await create(slow.post, slow.clock, 4000)).status).toBe(400);
  });

  it("refuses more than 10070 minutes with the ExtensionError body, raises less than 45 to 45, renews with PATCH", async () => {
    const { post, clock, fake } = withReceiver(echo);
    const tooFar = await create(post, clock, 10_071);
    expect(tooFar.status).toBe(400);
    expect(await tooFar.json()).toEqual({
      error: {
        code: "ExtensionError",
        message: "Subscription expiration can only be 10070 minutes in the future.",
      },
    });
    const short = (await (await create(post, clock, 10)).json()) as {
      id: string;
      expirationDateTime: string;
    };
    expect(new Date(short.expirationDateTime).getTime()).toBe(clock.now().getTime() + 45 * 60_000);
    const renewed = await post(
      `/subscriptions/${short.id}`,
      { expirationDateTime: new Date(clock.now().getTime() + 3 * 86_400_000).toISOString() },
      "PATCH",
    );
    expect(renewed.status).toBe(200);
    expect(fake.subscriptions()[0]!.expirationDateTime.getTime()).toBe(
      clock.now().getTime() + 3 * 86_400_000,
    );
  });

  it("GET /subscriptions lists the caller's own subscriptions, not another user's", async () => {
    const { post, get, clock, fake } = withReceiver(echo);
    const { id } = (await (await create(post, clock, 4000)).json()) as { id: string };
    fake.addMailbox("bob@firm.example");
    const bobToken = fake.accessTokenFor("bob@firm.example");
    const bobs = await fake.fetch(`${base}/subscriptions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${bobToken}`, "Content-Type": "application/json" },
      body: JSON.stringify({
        changeType: "created",
        notificationUrl,
        resource: "/me/mailFolders('inbox')/messages",
        expirationDateTime: new Date(clock.now().getTime() + 4000 * 60_000).toISOString(),
      }),
    });
    expect(bobs.status).toBe(201);
    const listed = (await (await get("/subscriptions")).json()) as {
      value: { id: string; resource: string; notificationUrl: string }[];
    };
    expect(listed.value.map((s) => s.id)).toEqual([id]);
    expect(listed.value[0]).toMatchObject({ notificationUrl, resource: "/me/mailFolders('inbox')/messages" });
    expect(fake.subscriptions()).toHaveLength(2);
  });

  it("sends lifecycle events; subscriptionRemoved deletes the subscription", async () => {
    const { post, clock, received, fake } = withReceiver(echo);
    const { id } = (await (await create(post, clock, 4000)).json()) as { id: string };
    for (const event of ["reauthorizationRequired", "missed", "subscriptionRemoved"] as const) {
      const delivery = await fake.emitLifecycleEvent(id, event);
      expect(delivery.status).toBe(202);
      const body = (await received.at(-1)!.json()) as {
        value: { lifecycleEvent: string; subscriptionId: string; clientState: string }[];
      };
      expect(body.value[0]).toMatchObject({
        lifecycleEvent: event,
        subscriptionId: id,
        clientState: "secret-state",
      });
    }
    expect(fake.subscriptions()).toEqual([]);
  });
});
