import { ValidationError } from "@clientmail/core";

/** Blob keys are the engine's: segments of `[A-Za-z0-9._-]` separated by `/`, none `.` or `..`. */
export function checkBlobKey(key: string): string[] {
  const segments = typeof key === "string" ? key.split("/") : [];
  const valid =
    segments.length > 0 &&
    key.length <= 1_000 &&
    segments.every((s) => /^[A-Za-z0-9._-]+$/.test(s) && s !== "." && s !== "..");
  if (!valid) {
    throw new ValidationError([
      { field: "key", value: key, expected: "segments of letters, digits, '.', '_' or '-' separated by '/'" },
    ]);
  }
  return segments;
}
