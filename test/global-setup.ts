/**
 * Starts the real servers the test suites need, once per run, and exposes their connection
 * details to test files (which run in forked workers) through the environment.
 *
 * Each server lives in its own module under `test/servers/`; a module exports
 * `start(): Promise<{ env: Record<string, string>; stop(): Promise<void> }>`.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

interface StartedServer {
  env: Record<string, string>;
  stop(): Promise<void>;
}

const serverModules = ["postgres", "dovecot"];

export default async function setup(): Promise<() => Promise<void>> {
  const started: StartedServer[] = [];
  const stopAll = async () => {
    for (const server of started.reverse()) await server.stop().catch(() => undefined);
  };
  try {
    for (const name of serverModules) {
      const file = fileURLToPath(new URL(`./servers/${name}.ts`, import.meta.url));
      if (!existsSync(file)) continue;
      const mod = (await import(file)) as { start(): Promise<StartedServer> };
      const server = await mod.start().catch((error: unknown) => {
        // Said here, in full, before the runner reports the failed setup its own way.
        console.error(`\n[test] The ${name} test server could not start; the run fails.\n`, error);
        throw error;
      });
      Object.assign(process.env, server.env);
      started.push(server);
    }
  } catch (error) {
    // A server that cannot start fails the run, without leaving the others running.
    await stopAll();
    throw error;
  }
  return stopAll;
}
