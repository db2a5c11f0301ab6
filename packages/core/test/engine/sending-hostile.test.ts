/**
 * Hostile input on the way out: CR, LF, NUL (and every other control character) in subjects,
 * names, addresses, shortcode values and copied Message-IDs never reach a header. A call is either
 * refused before anything is queued, with a validation error naming the field, or the message that
 * reaches the sender has exactly the intended headers. Oversized messages and too many recipients
 * are refused before queueing.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { naiveHeaderBlock } from "@clientmail/testkit";
import { ClientMailError, ValidationError } from "../../src/index.js";
import type { OutgoingMessage } from "../../src/ports/index.js";
import { at, minutes } from "./firm-fixture.js";
import { makeSendingFirm } from "./sending-fixture.js";

/** Text with the characters that break headers mixed in. */
const hostileText = fc
  .array(
    fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom(
        "\r",
        "\n",
        "\r\n",
        "\0",
        "\t",
        "\u2028",
        "\u0085",
        "\u001b",
        "Bcc: eve@evil.example",
        ":",
      ),
    ),
    { maxLength: 6 },
  )
  .map((parts) => parts.join(""));

/** Mostly ordinary values, sometimes hostile ones. */
const sometimesHostile = (ordinary: fc.Arbitrary<string>) =>
  fc.oneof({ arbitrary: ordinary, weight: 2 }, { arbitrary: hostileText, weight: 1 });
const plainWord = fc.stringMatching(/^[a-z][a-z0-9.]{0,10}$/);

function headerNames(message: OutgoingMessage): string[] {
  return naiveHeaderBlock(message)
    .split(/\r\n|\r|\n|\u2028|\u0085/)
    .map((line) => line.slice(0, line.indexOf(":")));
}

function intendedHeaders(message: OutgoingMessage): string[] {
  return [
    "From",
    "To",
    ...(message.cc.length > 0 ? ["Cc"] : []),
    "Subject",
    "Message-ID",
    ...(message.inReplyTo ? ["In-Reply-To"] : []),
    ...(message.references ? ["References"] : []),
    "Date",
  ];
}

const refusedBeforeQueueing = (error: unknown) =>
  ClientMailError.isInstance(error) &&
  (error.code === "validation_failed" || error.code === "unknown_shortcode");

describe("hostile input on outgoing mail", () => {
  it("S2, S1: CR, LF and NUL in subjects, names, addresses and shortcode values never reach a header (property)", async () => {
    const f = await makeSendingFirm();
    let sentCount = 0;
    let refusedCount = 0;
    await fc.assert(
      fc.asyncProperty(
        sometimesHostile(plainWord),
        hostileText,
        hostileText,
        sometimesHostile(plainWord),
        async (subject, accountName, firstName, ccLocal) => {
          // Stored names may hold line breaks (stores refuse only NUL and lone surrogates).
          try {
            await f.store.updateAccount(f.firm.id, f.accounts.acme.id, { name: accountName });
            await f.store.updateContact(f.firm.id, f.contacts.petra.id, { firstName });
          } catch (error) {
            if (!(error instanceof ValidationError)) throw error;
          }
          const before = (await f.store.listOutbox(f.firm.id)).length;
          const deliveredBefore = f.allDeliveries().length;
          try {
            await f.client.send(f.firm.id, {
              actor: { kind: "member", memberId: f.members.ann.id },
              mailboxId: f.boxes.ann.id,
              accountIds: [f.accounts.acme.id],
              subject: `${subject} [ACCOUNT_NAME] [CONTACT_FIRST_NAME]`,
              text: "Dear [CONTACT_FULL_NAME]",
              cc: [`${ccLocal}@ledger.example`],
            });
          } catch (error) {
            expect(refusedBeforeQueueing(error), String(error)).toBe(true);
            expect((await f.store.listOutbox(f.firm.id)).length).toBe(before);
            refusedCount += 1;
            return;
          }
          await f.settle();
          const delivered = f.allDeliveries().slice(deliveredBefore);
          expect(delivered).toHaveLength(1);
          expect(headerNames(delivered[0]!)).toEqual(intendedHeaders(delivered[0]!));
          sentCount += 1;
        },
      ),
      { numRuns: 80, seed: 20261201 },
    );
    console.log(
      `hostile sends: ${sentCount} sent with exactly the intended headers, ${refusedCount} refused before queueing`,
    );
    expect(sentCount).toBeGreaterThan(0);
    expect(refusedCount).toBeGreaterThan(0);
  }, 120_000);

  it("S6: a copied Message-ID or References with CR, LF or NUL never reaches a reply's headers (property)", async () => {
    const f = await makeSendingFirm();
    let replies = 0;
    await fc.assert(
      fc.asyncProperty(
        hostileText,
        hostileText,
        fc.integer({ min: 0, max: 1_000_000 }),
        async (idPart, refPart, n) => {
          f.box(f.boxes.ann.id).append({
            from: [at("petra@acme.example")],
            to: [at("ann@ledger.example")],
            subject: `Question ${n}`,
            messageId: `<${idPart}-${n}@acme.example>`,
            references: [`<${refPart}@acme.example>`, `<ok-${n}@acme.example>`],
            date: minutes(n % 10_000),
            text: "?",
          });
          await f.sync(f.boxes.ann.id).syncOnce();
          const threads = await f.store.listAccountThreads(f.firm.id, f.accounts.acme.id, {
            view: "inbox",
            limit: 500,
          });
          const thread = threads.find((t) => t.messages.some((m) => m.subject === `Question ${n}`));
          if (!thread) return;
          const deliveredBefore = f.allDeliveries().length;
          try {
            await f.client.reply(f.firm.id, {
              actor: { kind: "member", memberId: f.members.ann.id },
              threadId: thread.threadId,
              text: "Answer",
            });
          } catch (error) {
            expect(refusedBeforeQueueing(error), String(error)).toBe(true);
            return;
          }
          await f.settle();
          const [reply] = f.allDeliveries().slice(deliveredBefore);
          expect(headerNames(reply!)).toEqual(intendedHeaders(reply!));
          replies += 1;
        },
      ),
      { numRuns: 30, seed: 7 },
    );
    expect(replies).toBeGreaterThan(0);
  }, 120_000);

  it("S1: too many recipients or too large a message is refused with a clear error before anything is queued", async () => {
    const f = await makeSendingFirm({ sendLimits: { maxRecipientsPerMessage: 3, maxMessageBytes: 20_000 } });
    const base = {
      actor: { kind: "member" as const, memberId: f.members.ann.id },
      mailboxId: f.boxes.ann.id,
      accountIds: [f.accounts.acme.id],
      subject: "Hello",
    };
    const crowded = await f.client
      .send(f.firm.id, { ...base, text: "x", cc: ["a@x.example", "b@x.example", "c@x.example"] })
      .catch((e: unknown) => e);
    expect(crowded).toBeInstanceOf(ValidationError);
    expect((crowded as ValidationError).issues).toEqual([
      expect.objectContaining({ field: "to", expected: "at most 3 recipients (To, Cc and Bcc) per message" }),
    ]);
    const large = await f.client
      .send(f.firm.id, { ...base, text: "x".repeat(30_000) })
      .catch((e: unknown) => e);
    expect(large).toBeInstanceOf(ValidationError);
    expect((large as ValidationError).issues).toEqual([
      expect.objectContaining({
        field: "size",
        expected: "a message of at most 20000 bytes with its attachments",
      }),
    ]);
    expect(await f.store.listOutbox(f.firm.id)).toEqual([]);
  });
});
