/**
 * Reading HTML form bodies (application/x-www-form-urlencoded): a checkbox is present or absent,
 * a repeated field is a list, a `datetime-local` is a time in UTC. Values are then checked by the
 * SDK's own schemas, so a bad one gets the SDK's message naming the field.
 */
import { z } from "zod";

/** A checkbox: present (any value) means on. */
export const checkbox = z.preprocess((value) => value !== undefined && value !== "", z.boolean());

/** A field that may be sent once, several times or not at all. */
export const list = z.preprocess(
  (value) => (value === undefined ? [] : Array.isArray(value) ? value : [value]),
  z.array(z.string()),
);

/** An optional text field: empty means not given. */
export const optionalText = z.preprocess(
  (value) => (typeof value === "string" && value.trim() === "" ? undefined : value),
  z.string().optional(),
);

/** A `datetime-local` value read as UTC (the UI says so next to the field); empty means now. */
export const optionalUtcTime = z.preprocess(
  (value) => (typeof value === "string" && value.trim() === "" ? undefined : value),
  z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/, "a date and time such as 2026-12-31T09:00")
    .transform((value) => new Date(`${value}${value.length === 16 ? ":00" : ""}Z`))
    .optional(),
);
