import { createGmailConformanceBackend } from "@clientmail/testkit";
import { providerConformance } from "@clientmail/testkit/vitest";
import { createGmailProvider } from "../src/index.js";

providerConformance({
  name: "gmail (fake)",
  async setup() {
    const backend = createGmailConformanceBackend();
    const provider = createGmailProvider({
      ...backend.settings,
      pageSize: 2,
      push: { topicName: backend.topicName },
      pollIntervalMs: 5_000,
      requestTimeoutMs: 1000,
    });
    return backend.fixture(provider);
  },
  watchTimeoutMs: 4_000,
  operationDeadlineMs: 1000,
});
