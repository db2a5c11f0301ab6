/**
 * A {@link Logger} over a pino logger (or anything with pino's object-first signature, such as
 * bunyan's): clientmail's `(message, fields)` becomes pino's `(fields, message)`, so every field
 * (ids, counts, codes, causes) arrives as structured data rather than being dropped.
 */
import { z } from "zod";
import { parseInput } from "../domain/schemas.js";
import type { Logger } from "./logger.js";

/** The part of a pino logger clientmail calls: object first, then the message. */
export interface PinoLike {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

const method = z.custom<(...args: unknown[]) => unknown>((value) => typeof value === "function", {
  error: "a function (fields, message)",
});
const pinoSchema = z.looseObject({ debug: method, info: method, warn: method, error: method });

/**
 * Adapts a pino logger: `fromPino(pino())`, or a child (`fromPino(log.child({ service: "sync" }))`).
 * Throws a ValidationError naming the missing method for anything else.
 */
export function fromPino(pino: PinoLike): Logger {
  parseInput(pinoSchema, pino, "logger");
  return {
    debug: (message, fields) => pino.debug({ ...fields }, message),
    info: (message, fields) => pino.info({ ...fields }, message),
    warn: (message, fields) => pino.warn({ ...fields }, message),
    error: (message, fields) => pino.error({ ...fields }, message),
  };
}
