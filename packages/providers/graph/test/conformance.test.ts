import { graphConformanceSetup, providerConformance } from "@clientmail/testkit";
import { createGraphProvider } from "../src/index.js";

providerConformance({
  name: "graph (fake)",
  setup: graphConformanceSetup((env) =>
    createGraphProvider({
      mailbox: env.mailbox,
      getAccessToken: env.getAccessToken,
      fetch: env.fetch,
      pageSize: env.pageSize,
      push: { notificationUrl: env.notificationUrl, lifecycleNotificationUrl: env.lifecycleNotificationUrl },
    }),
  ),
});
