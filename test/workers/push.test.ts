/**
 * Push for workers (Y2, R8) on the Gmail and Graph fakes: registrations made by jobs after a
 * mailbox's first pass and recorded with their renewal jobs, notifications from the host's webhook
 * (`worker.notifyPush`) turned into keyed sync jobs, renewals before expiry, re-registration after
 * a lifecycle removal, and forged or unknown notifications that change nothing.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createWorker, defaultNotifyPreferences, type SyncWorker } from "@clientmail/core";
import { secretHash } from "@clientmail/core/internal";
import { silentLogger, type MailProvider } from "@clientmail/core/ports";
import { createGmailProvider } from "@clientmail/gmail";
import { createGraphProvider } from "@clientmail/graph";
import { createMemoryJobQueue, createMemoryPacing, createMemoryStore } from "@clientmail/memory";
import { buildRawMessage, createGmailFake, createGraphFake } from "@clientmail/testkit";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000) {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const day = 86_400_000;

async function pushFirm() {
  let offset = 0;
  const clock = { now: () => new Date(Date.now() + offset) };
  const store = createMemoryStore({ clock });
  const queue = createMemoryJobQueue({ store, clock, retryDelayMs: () => 20 });
  const firm = await store.createFirm({
    name: "Ledger",
    internalDomains: ["ledger.example"],
    deletionMode: "mirror",
  });
  const member = await store.createMember(firm.id, {
    name: "Ann",
    email: "ann@ledger.example",
    role: "owner",
    newMailNotifications: "none",
    timeZone: "UTC",
  });
  const settings = { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" };
  const gmailBox = await store.createMailbox(
    firm.id,
    {
      provider: "gmail",
      address: "ann@ledger.example",
      displayName: "Ann",
      ownerMemberId: member.id,
      settings,
    },
    clock.now(),
  );
  const graphBox = await store.createMailbox(
    firm.id,
    {
      provider: "graph",
      address: "bob@ledger.example",
      displayName: "Bob",
      ownerMemberId: member.id,
      settings,
    },
    clock.now(),
  );
  const account = await store.createAccount(firm.id, { name: "Jordan", kind: "family" }, clock.now());
  const jo = await store.createContact(firm.id, { firstName: "Jo", lastName: "Jordan" });
  await store.createLink(firm.id, {
    accountId: account.id,
    contactId: jo.id,
    email: "jo@home.example",
    login: false,
    notify: false,
    emailSync: true,
    signatory: false,
    notifyPreferences: defaultNotifyPreferences(),
  });

  const gmail = createGmailFake({ clock });
  const gmailUser = gmail.addUser("ann@ledger.example");
  const ref: { worker?: SyncWorker } = {};
  const graphWebhook = async (request: Request): Promise<Response> => {
    const token = new URL(request.url).searchParams.get("validationToken");
    if (token !== null) return new Response(token, { headers: { "Content-Type": "text/plain" } });
    await ref.worker!.notifyPush(firm.id, { provider: "graph", body: await request.json() });
    return new Response(null, { status: 202 });
  };
  const graph = createGraphFake({ clock, deliver: graphWebhook });
  const graphMailbox = graph.addMailbox("bob@ledger.example");
  gmail.onPush((push) => {
    void ref.worker?.notifyPush(firm.id, { provider: "gmail", body: push });
  });

  const providerFor = (
    mailbox: { provider: string; address: string },
    _c: unknown,
    context?: { pacing?: unknown },
  ) => {
    const pacing = context?.pacing as Parameters<typeof createGraphProvider>[0]["sharedRequests"];
    if (mailbox.provider === "gmail")
      return createGmailProvider({
        credentials: { ...gmail.oauthClient, refreshToken: gmail.refreshTokenOf(mailbox.address)! },
        emailAddress: mailbox.address,
        fetch: gmail.fetch,
        clock,
        push: { topicName: "projects/ledger/topics/gmail" },
        quota: { shared: pacing as never },
      }) as MailProvider;
    return createGraphProvider({
      mailbox: mailbox.address,
      getAccessToken: async () => graph.accessTokenFor(mailbox.address),
      fetch: graph.fetch,
      clock,
      push: {
        notificationUrl: "https://hooks.ledger.example/graph",
        lifecycleNotificationUrl: "https://hooks.ledger.example/graph/lifecycle",
      },
      sharedRequests: pacing,
    }) as MailProvider;
  };
  const worker = createWorker({
    store,
    queue,
    clock,
    logger: silentLogger,
    random: () => 0,
    holder: "push",
    providerFor: (mailbox, credentials, context) => providerFor(mailbox, credentials, context),
    pacing: createMemoryPacing({ clock }),
    queuePollIntervalMs: 20,
    pollIntervalMs: 60 * 60_000,
    auditIntervalMs: 365 * day,
  });
  ref.worker = worker;
  cleanups.push(async () => {
    await worker.stop({ timeoutMs: 1_000 });
    await queue.close();
  });
  const filed = async () =>
    (await store.listAccountThreads(firm.id, account.id, { view: "inbox", limit: 100 })).flatMap(
      (t) => t.messages,
    ).length;
  const registrations = async () => [
    ...(await store.listPushRegistrations(firm.id, gmailBox.id)),
    ...(await store.listPushRegistrations(firm.id, graphBox.id)),
  ];
  let n = 0;
  const clientMail = () => {
    n += 1;
    return {
      from: "Jo <jo@home.example>",
      subject: `Receipts ${n}`,
      messageId: `<receipts-${n}@home.example>`,
      date: clock.now(),
      text: "Here they are.",
    };
  };
  return {
    worker,
    store,
    queue,
    firm,
    gmail,
    graph,
    gmailBox,
    graphBox,
    filed,
    registrations,
    advance: (ms: number) => {
      offset += ms;
    },
    mailToGmail: () =>
      gmailUser.addMessage({ raw: buildRawMessage({ ...clientMail(), to: "ann@ledger.example" }) }),
    mailToGraph: () => {
      const { from: _from, ...rest } = clientMail();
      return graphMailbox.addMessage({ ...rest, from: "jo@home.example", to: ["bob@ledger.example"] });
    },
  };
}

type PushFirm = Awaited<ReturnType<typeof pushFirm>>;

async function registered(f: PushFirm) {
  await f.worker.start();
  await eventually(async () => (await f.registrations()).length === 3, "three registrations");
}

describe("push registrations and notifications on workers", () => {
  it("Y2, R8: after the first pass a job registers each mailbox (Gmail users.watch, a Graph subscription per folder), recorded with its renewal job; the secret is kept only as a hash", async () => {
    const f = await pushFirm();
    await registered(f);
    const records = await f.registrations();
    const gmail = records.find((r) => r.provider === "gmail")!;
    expect(gmail).toMatchObject({
      subscriptionId: "gmail:ann@ledger.example",
      resource: "projects/ledger/topics/gmail",
    });
    expect(gmail.expiresAt.getTime() - Date.now()).toBeGreaterThan(6.9 * day);
    const subscriptions = f.graph.subscriptions();
    expect(subscriptions).toHaveLength(2);
    for (const subscription of subscriptions) {
      const record = records.find((r) => r.subscriptionId === subscription.id)!;
      expect(record.secretHash).toBe(await secretHash(subscription.clientState!));
      expect(record.secretHash).not.toContain(subscription.clientState!);
    }
    // Every registration has its renewal job waiting.
    const stats = await f.queue.stats();
    expect(stats.waiting).toBeGreaterThanOrEqual(2 + 3);
  });

  it("Y2: a Gmail Pub/Sub push and a Graph notification file new mail at once, an hour before the poll", async () => {
    const f = await pushFirm();
    await registered(f);
    f.mailToGmail();
    await eventually(async () => (await f.filed()) === 1, "the Gmail message");
    f.mailToGraph();
    await eventually(async () => (await f.filed()) === 2, "the Graph message");
  });

  it("Y2: a forged, unknown or garbled notification changes nothing: no sync is brought forward", async () => {
    const f = await pushFirm();
    await registered(f);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await f.queue.stats()).oldestWaitingAt).toBeUndefined();
    const [subscription] = f.graph.subscriptions();
    const pubsub = (data: unknown) => ({
      message: { data: Buffer.from(JSON.stringify(data)).toString("base64url"), messageId: "1" },
    });
    const outcomes = [
      await f.worker.notifyPush(f.firm.id, {
        provider: "gmail",
        body: pubsub({ emailAddress: "eve@evil.example", historyId: "9" }),
      }),
      await f.worker.notifyPush(f.firm.id, { provider: "gmail", body: { message: { data: "%%%" } } }),
      await f.worker.notifyPush(f.firm.id, { provider: "gmail", body: null }),
      await f.worker.notifyPush(f.firm.id, {
        provider: "graph",
        body: {
          value: [{ subscriptionId: subscription!.id, clientState: "guessed", changeType: "created" }],
        },
      }),
      await f.worker.notifyPush(f.firm.id, {
        provider: "graph",
        body: {
          value: [
            {
              subscriptionId: "unknown",
              clientState: subscription!.clientState,
              lifecycleEvent: "subscriptionRemoved",
            },
          ],
        },
      }),
      await f.worker.notifyPush(f.firm.id, { provider: "graph", body: "not json at all" }),
      // The right secret for another firm's registration: nothing of this firm matches.
      await f.worker.notifyPush("another-firm", {
        provider: "graph",
        body: { value: [{ subscriptionId: subscription!.id, clientState: subscription!.clientState }] },
      }),
    ];
    expect(outcomes.every((o) => o.synced === 0 && o.ignored >= 1)).toBe(true);
    expect((await f.queue.stats()).oldestWaitingAt).toBeUndefined();
    expect(await f.registrations()).toHaveLength(3);
    await expect(f.worker.notifyPush("", { provider: "gmail", body: {} })).rejects.toMatchObject({
      code: "validation_failed",
    });
  });

  it("Y2, R8: renewal jobs extend the Graph subscriptions and the Gmail watch before they expire, recording each new expiry", async () => {
    const f = await pushFirm();
    await registered(f);
    const before = new Map((await f.registrations()).map((r) => [r.subscriptionId, r.expiresAt.getTime()]));
    // Graph's 3-day subscriptions are renewed an hour before they expire.
    f.advance(3 * day - 30 * 60_000);
    await eventually(
      async () =>
        (await f.registrations())
          .filter((r) => r.provider === "graph")
          .every((r) => r.expiresAt.getTime() > before.get(r.subscriptionId)!),
      "the Graph renewals",
    );
    for (const subscription of f.graph.subscriptions())
      expect(subscription.expirationDateTime.getTime()).toBeGreaterThan(before.get(subscription.id)!);
    // Gmail's watch lasts 7 days.
    f.advance(4 * day);
    await eventually(
      async () =>
        (await f.registrations()).find((r) => r.provider === "gmail")!.expiresAt.getTime() >
        before.get("gmail:ann@ledger.example")!,
      "the Gmail renewal",
    );
    expect(f.gmail.callCount("users.watch")).toBe(2);
  });

  it("Y2: a subscription Graph removes (lifecycle event) or forgets (renewal not_found) is registered again, with a pass for what was missed", async () => {
    const f = await pushFirm();
    await registered(f);
    const [first, second] = f.graph.subscriptions();
    await f.graph.emitLifecycleEvent(first!.id, "subscriptionRemoved");
    await eventually(
      async () => f.graph.subscriptions().length === 2 && (await f.registrations()).length === 3,
      "the re-created subscription",
    );
    expect((await f.registrations()).map((r) => r.subscriptionId)).not.toContain(first!.id);
    // Graph forgets the other one: its renewal gets 404 and it is registered again.
    f.graph.failNext(1, "renewSubscription", {
      status: 404,
      body: { error: { code: "ResourceNotFound", message: "The object was not found." } },
    });
    f.advance(3 * day - 30 * 60_000);
    await eventually(
      async () => !(await f.registrations()).some((r) => r.subscriptionId === second!.id),
      "the forgotten subscription replaced",
    );
    await eventually(
      async () => (await f.registrations()).filter((r) => r.provider === "graph").length === 2,
      "two Graph registrations",
    );
    f.mailToGraph();
    await eventually(async () => (await f.filed()) === 1, "mail through the new subscription");
  });
});
