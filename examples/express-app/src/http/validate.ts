/**
 * Request input parsed with zod; a failure is the SDK's ValidationError, so the answer names the
 * field, the value and what was expected, like every SDK error.
 */
import { ValidationError } from "@clientmail/core";
import type { z } from "zod";

/** Parses `value` with `schema`, or throws a ValidationError (400 `validation_failed`). */
export function parse<S extends z.ZodType>(schema: S, value: unknown, prefix = ""): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(
    result.error.issues.map((issue) => {
      const field = [prefix, ...issue.path.map(String)].filter(Boolean).join(".") || "(body)";
      let given: unknown = value;
      for (const key of issue.path) given = (given as Record<PropertyKey, unknown> | undefined)?.[key];
      return { field, value: given, expected: issue.message };
    }),
  );
}
