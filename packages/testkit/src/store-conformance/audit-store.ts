/**
 * `AuditStore` conformance: the audit trail, newest first.
 */
import { describe, expect, it } from "vitest";
import type { AuditStore } from "@clientmail/core/ports";
import { minutes, seedFirm, t0, type SeedingStore } from "./fixtures.js";
import { describeStoreSuite, type StoreConformanceOptions } from "./options.js";

/** The AuditStore suite. */
export function auditStoreConformance(options: StoreConformanceOptions<SeedingStore & AuditStore>): void {
  describeStoreSuite(options, "AuditStore", () => {
    describe("audit", () => {
      it("keeps an audit trail, newest first", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "audit");
        await store.appendAudit(
          seed.firm.id,
          {
            actor: seed.member.id,
            action: "contact.erased",
            subject: `contact:${seed.contact.id}`,
            details: { messages: 3 },
          },
          t0,
        );
        await store.appendAudit(
          seed.firm.id,
          { actor: "system", action: "mailbox.stopped", subject: undefined, details: {} },
          minutes(1),
        );
        const entries = await store.listAudit(seed.firm.id);
        expect(entries.map((e) => e.action)).toEqual(["mailbox.stopped", "contact.erased"]);
        expect(entries[1]).toMatchObject({ actor: seed.member.id, details: { messages: 3 }, at: t0 });
        expect(await store.listAudit(seed.firm.id, 1)).toHaveLength(1);
      });
    });
  });
}
