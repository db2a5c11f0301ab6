/**
 * R5: a Message-ID is not an identity. Client B's message reusing client A's Message-ID (other
 * From, Date and Subject) — pages later, or in the same page — and a forgery that takes a
 * Message-ID before the real message arrives through another mailbox: each message must be filed
 * where its own participants put it, as in a run where every message has its own id, none may be
 * lost, and every collision is recorded (audit action `message.id_collision`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCollisionCorpus, type PlantedCollision } from "./corpus.js";
import { addTrial, compareDigests, emptyTotals, summaryLine, type FaultDigest } from "./digest.js";
import { describeTrial, dovecotSkipReason, FaultSuite, publish, type LoadedCorpus } from "./harness.js";

const skip = dovecotSkipReason();

describe.skipIf(skip !== undefined)(
  `fault suite: Message-ID collisions${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    let suite: FaultSuite;
    let colliding: LoadedCorpus;
    let collisions: PlantedCollision[];
    let unique: LoadedCorpus;
    let reference: FaultDigest;

    beforeAll(async () => {
      suite = await FaultSuite.open();
      const planted = generateCollisionCorpus({ uniqueIds: false });
      collisions = planted.collisions;
      colliding = await suite.loadCorpus(planted.corpus);
      unique = await suite.loadCorpus(generateCollisionCorpus({ uniqueIds: true }).corpus);
      const firm = await suite.createFirm();
      const outcome = await suite.runTrial(firm, unique);
      if (!outcome.synced) throw new Error(`the run with unique ids failed: ${describeTrial(outcome)}`);
      reference = await suite.digest(firm, unique);
      await firm.dispose();
    }, 180_000);
    afterAll(async () => {
      await suite?.close();
    });

    it("R5: a reused or squatted Message-ID never moves a message into another account, never hides a message, and is recorded", async () => {
      const started = Date.now();
      const firm = await suite.createFirm();
      const outcome = await suite.runTrial(firm, colliding);
      const digest = await suite.digest(firm, colliding);
      const diff = compareDigests(reference, digest);
      const totals = emptyTotals();
      addTrial(totals, diff, outcome.hung);
      publish(
        summaryLine(
          "R5 Message-ID reuse and squatting",
          totals,
          Date.now() - started,
          `collisions-recorded=${digest.collisions}/${collisions.length}`,
        ),
      );
      await firm.dispose();
      const where = (tag: string) =>
        Object.entries(digest.filed)
          .filter(([, identities]) => identities[tag])
          .map(([account]) => account)
          .sort();
      const explained = collisions.map(
        (c) => `${c.description}: ${c.tags.map((tag) => `${tag} in [${where(tag).join(", ")}]`).join(", ")}`,
      );
      expect(diff.details, `${explained.join("\n")}\n${diff.details.join("\n")}`).toEqual([]);
      expect(outcome.synced, describeTrial(outcome)).toBe(true);
      expect(digest.collisions, "audit entries message.id_collision").toBeGreaterThanOrEqual(
        collisions.length,
      );
    }, 300_000);
  },
);
