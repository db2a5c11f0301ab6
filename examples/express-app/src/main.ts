/**
 * Starts the reference app: reads the configuration, opens the SDK (and, in demo mode, the demo
 * firm with its in-process mail servers), starts the workers unless ROLE=api, listens and prints
 * the URL. SIGINT/SIGTERM stop the workers (in-flight work finishes or is released) and exit.
 */
import type { Server } from "node:http";
import { createApp } from "./app.js";
import { ConfigError, loadConfig, type AppConfig } from "./config.js";
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
  let server: Server | undefined;
  if (config.ROLE !== "worker") {
    const app = createApp(services);
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(config.PORT, config.HOST, () => resolve(listening));
    });
  }
  if (config.ROLE !== "api") await services.cm.start();
  if (server) console.log(`clientmail example app: ${config.publicUrl}`);
  else console.log("clientmail worker running");

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server?.close();
    await services.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
}

await main();
