/**
 * Starts the reference app: reads the configuration, opens the SDK (and, in demo mode, the demo
 * firm with its in-process mail servers), starts the workers unless ROLE=api, listens and prints
 * the URL. SIGINT/SIGTERM stop the workers (in-flight work finishes or is released) and exit.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createApp } from "./app.js";
import { ConfigError, loadConfig, type AppConfig } from "./config.js";
import { demoPassword, startDemo, type Demo } from "./demo/index.js";
import { openServices, type Services } from "./services.js";

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const services: Services = await openServices(config);
  const demo: Demo | undefined = config.demo ? await startDemo(services) : undefined;
  let server: Server | undefined;
  if (config.ROLE !== "worker") {
    const app = createApp(services);
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(config.PORT, config.HOST, () => resolve(listening));
    });
  }
  if (config.ROLE !== "api") await services.cm.start();
  if (server) {
    // PORT=0 picks a free port: the printed address is the one really listened on.
    const { port } = server.address() as AddressInfo;
    if (config.PORT === 0 && !config.PUBLIC_URL)
      config.publicUrl = config.publicUrl.replace(/:0$/, `:${port}`);
    console.log(`clientmail example app: ${config.publicUrl}`);
  } else console.log("clientmail worker running");
  if (demo) {
    const { owner, admin, employee } = demo.members;
    console.log(
      `Demo firm "${demo.firm.name}": sign in as ${owner.email} (owner), ${admin.email} (admin) or ` +
        `${employee.email} (employee), password "${demoPassword}".` +
        (config.DATABASE_URL ? "" : " Nothing is kept after the process exits."),
    );
  }

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server?.close();
    await services.close();
    await demo?.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
}

await main();
