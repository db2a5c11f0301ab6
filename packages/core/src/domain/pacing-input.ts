/**
 * The inputs of the Pacing port, checked the same way by every adapter (`@clientmail/memory`,
 * `@clientmail/postgres`), so both accept and refuse the same values.
 */
import { z } from "zod";
import { parseInput } from "./schemas.js";

const key = z.string().min(1).max(500);
const positiveInt = z.number().int().positive();

const takeSchema = z.object({
  firmId: key,
  key,
  units: positiveInt,
  budget: z.object({ units: positiveInt, windowMs: positiveInt }).strict(),
});

const acquireSchema = z.object({
  firmId: key,
  key,
  weight: positiveInt,
  options: z.object({ capacity: positiveInt, ttlMs: positiveInt }).strict(),
});

const tryAcquireSchema = z.object({ firmId: key, key, ttlMs: positiveInt });

/** Checks a `Pacing.take` call; throws a ValidationError naming each bad field. */
export function checkPacingTake(input: unknown): z.output<typeof takeSchema> {
  return parseInput(takeSchema, input);
}

/** Checks a `Pacing.acquire` call; throws a ValidationError naming each bad field. */
export function checkPacingAcquire(input: unknown): z.output<typeof acquireSchema> {
  return parseInput(acquireSchema, input);
}

/** Checks a `Pacing.tryAcquire` call; throws a ValidationError naming each bad field. */
export function checkPacingTryAcquire(input: unknown): z.output<typeof tryAcquireSchema> {
  return parseInput(tryAcquireSchema, input);
}

/**
 * Waits `ms`, or rejects with the signal's reason (a `ClientMailError` when it is one, else a
 * `transient` error) as soon as `signal` aborts. Pacing adapters wait with it by default.
 */
export function pacingSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(typeof reason === "string" ? reason : "aborted");
}
