import { graphConformanceSetup } from "@clientmail/testkit";
import { providerConformance } from "@clientmail/testkit/vitest";
import { createGraphProvider } from "../src/index.js";

providerConformance({
  name: "graph (fake)",
  setup: graphConformanceSetup((env) =>
    createGraphProvider({
      mailbox: env.mailbox,
      getAccessToken: env.getAccessToken,
      fetch: env.fetch,
      pageSize: env.pageSize,
      requestTimeoutMs: 1000,
      push: { notificationUrl: env.notificationUrl, lifecycleNotificationUrl: env.lifecycleNotificationUrl },
    }),
  ),
  operationDeadlineMs: 1000,
});
