/**
 * graphile-worker's logger, fed into clientmail's `Logger` port. The engine logs every completed
 * job at "info" and every failed one at "error" with its stack: the queue reports outcomes itself,
 * so those lines go to debug and warn, and nothing is logged unless the host passes a logger.
 */
import { Logger as GraphileLogger } from "graphile-worker";
import type { Logger } from "@clientmail/core/ports";

export function graphileLoggerFor(logger: Logger | undefined): GraphileLogger {
  return new GraphileLogger((scope) => (level, message) => {
    if (!logger) return;
    const fields = { engine: "graphile-worker", ...scope };
    const name: string = level;
    if (name === "warning") logger.warn(message, fields);
    else if (name === "error") logger.warn(message.split("\n")[0] ?? message, fields);
    else logger.debug(message, fields);
  });
}

/** The engine's logger when nothing should be logged (installation). */
export const graphileLogger = graphileLoggerFor(undefined);
