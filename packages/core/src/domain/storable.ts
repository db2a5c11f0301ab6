/**
 * R4: text a store can hold. PostgreSQL refuses U+0000 in `text` and `jsonb` (SQLSTATE 22021 /
 * 22P05) and lone UTF-16 surrogates cannot be encoded as UTF-8 at all; mail carries both now and
 * then (a hostile subject, a broken charset). Mail text is made storable once, at the engine's
 * edge, with {@link storableText}; every store checks its inputs with {@link assertStorable}, so
 * all stores accept and refuse exactly the same values.
 */
import { ValidationError, type ValidationIssue } from "../errors.js";

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const loneSurrogates = new RegExp(loneSurrogate.source, "g");

/** Replaces what no store can hold: U+0000 is removed, a lone surrogate becomes U+FFFD. */
export function storableText(text: string): string {
  // Almost every string is storable as it is; it is returned unchanged after one native check.
  if (isStorableText(text)) return text;
  let result = text.includes("\u0000") ? text.replaceAll("\u0000", "") : text;
  if (loneSurrogate.test(result)) result = result.replace(loneSurrogates, "\uFFFD");
  return result;
}

/** Any character that may make a string unstorable: U+0000 or any surrogate, paired or not. */
// eslint-disable-next-line no-control-regex -- U+0000 is one of the characters looked for
const suspect = /[\u0000\uD800-\uDFFF]/;

/** `String.prototype.isWellFormed` (ES2024, Node 20): no lone surrogate, checked natively. */
const wellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

/** True when a store can hold the string as it is. */
export function isStorableText(text: string): boolean {
  // The native check is several times faster than a regular expression over long bodies.
  if (wellFormed) return !text.includes("\u0000") && wellFormed.call(text);
  // One scan settles almost every string (no NUL, no surrogate at all); only the rest need the
  // pairing check.
  if (!suspect.test(text)) return true;
  return !text.includes("\u0000") && !loneSurrogate.test(text);
}

/**
 * True when every string in `value` (as {@link collect} walks it) is storable. It builds no field
 * names, so the common case (nothing to report) costs one scan of each string; only a value that
 * fails it is walked again to name its fields.
 */
function allStorable(value: unknown, depth: number): boolean {
  if (typeof value === "string") return isStorableText(value);
  if (typeof value !== "object" || value === null || value instanceof Date || depth > 32) return true;
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) if (!allStorable(item, depth + 1)) return false;
    return true;
  }
  // `for...in` also walks inherited enumerable keys, which `collect` does not: at worst that
  // sends a value to `collect`, which then finds nothing. It saves a key array per object.
  for (const key in value) {
    if (!isStorableText(key)) return false;
    if (!allStorable((value as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

const maxIssues = 10;

function collect(value: unknown, field: string, issues: ValidationIssue[], depth: number): void {
  if (issues.length >= maxIssues || depth > 32) return;
  if (typeof value === "string") {
    if (!isStorableText(value)) {
      issues.push({
        field,
        value: value.length > 80 ? `${value.slice(0, 80)}…` : value,
        expected: "text without U+0000 or unpaired surrogates",
      });
    }
    return;
  }
  if (typeof value !== "object" || value === null || value instanceof Date) return;
  if (Array.isArray(value)) {
    value.forEach((item, index) =>
      collect(item, field === "" ? String(index) : `${field}.${index}`, issues, depth + 1),
    );
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    // Map keys are text too (a JSON payload's keys end up in jsonb).
    if (!isStorableText(key)) collect(key, field === "" ? key : `${field}.${key}`, issues, depth + 1);
    collect(item, field === "" ? key : `${field}.${key}`, issues, depth + 1);
  }
}

/** The fields of `value` (strings anywhere inside it) that no store can hold. */
export function unstorableIssues(value: unknown, field = ""): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (allStorable(value, 0)) return issues;
  collect(value, field, issues, 0);
  return issues;
}

/** Throws a `ValidationError` naming each field of `value` that no store can hold (R4). */
export function assertStorable(value: unknown, field = ""): void {
  const issues = unstorableIssues(value, field);
  if (issues.length > 0) throw new ValidationError(issues);
}

/**
 * Throws a `ValidationError` unless `value` is a count a store can act on (a non-negative safe
 * integer), so that every store refuses the same counts.
 */
export function assertCount(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new ValidationError([{ field, value, expected: "a non-negative integer" }]);
}
