/**
 * The parts of a request the routes hand to the SDK, which validates them itself and names the
 * field (`accountId`, `contacts.0.emails.0.email`, …) of anything wrong.
 */
import type { Request } from "express";

/** The JSON body, or `{}` when there is none, so a missing field is named rather than the body. */
export function body(req: Request): unknown {
  return (req.body as unknown) ?? {};
}

/** A path parameter, as text (Express gives arrays only for repeated wildcards). */
export function id(req: Request, name: string): string {
  const value = (req.params as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value.join("/") : (value ?? "");
}
