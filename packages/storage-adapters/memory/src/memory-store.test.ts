import { storeConformance } from "@clientmail/testkit/vitest";
import { MemoryStore } from "./memory-store.js";

let now = Date.parse("2026-03-02T09:00:00.000Z");
const clock = { now: () => new Date(now) };

storeConformance({
  name: "memory",
  makeStore: async () => {
    const store = new MemoryStore({ clock });
    return {
      store,
      raw: {
        countMessages: async (firmId) => store.inspectRaw(firmId).messages,
        countSightings: async (firmId) => store.inspectRaw(firmId).sightings,
        storedCredentials: async (firmId, mailboxId) => store.inspectRaw(firmId).credentials.get(mailboxId),
      },
    };
  },
  advanceClock: async (ms) => {
    now += ms;
  },
});
