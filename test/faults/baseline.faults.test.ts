/**
 * The fault suite's yardstick: a fault-free run of the corpus through a production worker (the job
 * queue included), the real engine, Dovecot and PostgreSQL. Every other case compares with it, so it must be right (it files what
 * the corpus's answer key says) and stable (two runs give the same digest).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { autoSaving, generateCorpus } from "./corpus.js";
import { compareDigests, expectedDigest, type FaultDigest } from "./digest.js";
import { describeTrial, dovecotSkipReason, FaultSuite, publish, type LoadedCorpus } from "./harness.js";

const skip = dovecotSkipReason();

describe.skipIf(skip !== undefined)(
  `fault suite: the fault-free run${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    let suite: FaultSuite;
    let loaded: LoadedCorpus;
    let first: FaultDigest;

    beforeAll(async () => {
      suite = await FaultSuite.open();
      // The run every other case compares with (made by whichever file got there first).
      ({ loaded, baseline: first } = await suite.sharedBaseCorpus(generateCorpus));
    }, 240_000);
    afterAll(async () => {
      await suite?.close();
    });

    it("the corpus is the same bytes on every run", () => {
      const again = generateCorpus();
      expect(again.messages.map((m) => m.raw.toString("base64"))).toEqual(
        loaded.corpus.messages.map((m) => m.raw.toString("base64")),
      );
      const clientMail = loaded.corpus.messages.filter((m) => m.accounts.length > 0);
      expect(clientMail.length).toBeGreaterThan(50);
      expect(clientMail.some((m) => m.accounts.length === 2)).toBe(true);
      expect(clientMail.some((m) => m.accounts.length === 3)).toBe(true);
      expect(clientMail.some((m) => m.messageId === undefined)).toBe(true);
      expect(clientMail.some((m) => m.copies.length > 1)).toBe(true);
      expect(loaded.corpus.messages.some((m) => m.kind === "personal")).toBe(true);
      expect(loaded.corpus.messages.some((m) => m.kind === "internal")).toBe(true);
      expect(loaded.corpus.totalBytes).toBeGreaterThan(4 * 1024 * 1024);
    });

    it("F1 F4 F5 F9 H1: a fault-free run files exactly the corpus's client mail, and its digest is the same on a second run", async () => {
      const firm = await suite.createFirm();
      const outcome = await suite.runTrial(firm, loaded);
      expect(outcome.synced, describeTrial(outcome)).toBe(true);
      const second = await suite.digest(firm, loaded);
      await firm.dispose();
      const truth = compareDigests(expectedDigest(loaded.corpus, autoSaving), first, {
        parts: ["filed", "attachments"],
      });
      publish(
        `[faults] baseline: ${Object.keys(first.records).length} messages, ${first.threads.length} threads, ` +
          `${Object.values(first.attachments).reduce((a, b) => a + b, 0)} documents, ` +
          `${Object.keys(first.notifications).length} notifications, ` +
          `${(loaded.corpus.totalBytes / 1024 / 1024).toFixed(1)} MiB; vs answer key lost=${truth.lost} ` +
          `duplicated=${truth.duplicated} wrong-account=${truth.wrongAccount} extra=${truth.extra}`,
      );
      expect(truth.details).toEqual([]);
      // Save calls may repeat (two jobs saving one file for one account at once keep one
      // document): the documents themselves must be the same.
      expect({ ...second, documentSaves: 0 }).toEqual({ ...first, documentSaves: 0 });
      expect(first.deadLetters).toEqual({});
      expect(Object.values(first.states)).toEqual(["live", "live", "live"]);
      expect(first.quarantine).toEqual({});
    }, 240_000);
  },
);
