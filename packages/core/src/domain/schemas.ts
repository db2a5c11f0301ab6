/**
 * zod schemas for every public input, and {@link parseInput}, which turns zod's failures into a
 * {@link ValidationError} naming each field, its value and what was expected. T11: accounts
 * created with contacts, contacts added to an account and rows of an imported client list all go
 * through {@link linkSettingsSchema}, so the same validation applies in all three places.
 */
import { z } from "zod";
import { ValidationError, type ValidationIssue } from "../errors.js";
import { normalizeAddress } from "./addresses.js";
import { notifyCategories } from "./model.js";

/** Control characters: C0 (NUL included), DEL and C1. */
const anyControl = /\p{Cc}/u;
/** Control characters other than tab, line feed and carriage return. */
const controlOutsideLayout = /[^\P{Cc}\t\n\r]/u;
/** Half of a UTF-16 surrogate pair on its own: no Unicode character at all. */
const loneSurrogate = /\p{Cs}/u;

const wellFormed = "well-formed Unicode text (no lone surrogate)";

/**
 * R4: a one-line value — a name, an id, a time zone. NUL, other control characters (a line break
 * in a name would also break every header and CSV it is written to) and lone surrogates are
 * refused here, before a store sees them: PostgreSQL rejects NUL and cannot encode a lone
 * surrogate, and both stores must accept and refuse the same inputs.
 */
export function singleLineText(): z.ZodString {
  return z
    .string()
    .refine(
      (value) => !anyControl.test(value),
      "text without control characters (such as NUL or a line break)",
    )
    .refine((value) => !loneSurrogate.test(value), wellFormed);
}

/** R4: text that may span lines (a message, HTML): tabs and line breaks are content, other controls are not. */
export function multiLineText(): z.ZodString {
  return z
    .string()
    .refine(
      (value) => !controlOutsideLayout.test(value),
      "text without control characters other than tab and line breaks (such as NUL)",
    )
    .refine((value) => !loneSurrogate.test(value), wellFormed);
}

/** An id given to the facade (firm, account, link, member, ...): one line, 1 to 200 characters. */
export const idSchema = singleLineText().min(1, "a non-empty id").max(200, "at most 200 characters");

/** An email address, validated and normalised (T12). */
export const emailSchema = z.string({ error: "an email address string" }).transform((value, ctx) => {
  try {
    return normalizeAddress(value);
  } catch {
    ctx.addIssue({ code: "custom", message: "an email address like name@example.com" });
    return z.NEVER;
  }
});

export const notifyPreferencesSchema = z.partialRecord(z.enum(notifyCategories), z.boolean());

/** The settings of one (account, contact, email) link as given on entry (T1, T11). */
export const linkSettingsSchema = z.strictObject({
  email: emailSchema,
  login: z.boolean().default(false),
  notify: z.boolean().default(true),
  emailSync: z.boolean().default(false),
  signatory: z.boolean().default(false),
  notifyPreferences: notifyPreferencesSchema.optional(),
  /** With login on: send the invitation now (default) or leave it for later (T2). */
  sendInvitation: z.boolean().default(true),
  invitationMessage: multiLineText().max(5000).optional(),
});
export type LinkSettingsInput = z.input<typeof linkSettingsSchema>;
export type LinkSettings = z.output<typeof linkSettingsSchema>;

/** A name (firm, member, account, contact): one line of well-formed text. */
export const nameSchema = singleLineText()
  .trim()
  .min(1, "a non-empty name")
  .max(200, "at most 200 characters");

/** A contact with its addresses in one account. */
export const contactInputSchema = z
  .strictObject({
    firstName: nameSchema,
    lastName: singleLineText().trim().max(200, "at most 200 characters").default(""),
    emails: z.array(linkSettingsSchema).max(50).default([]),
  })
  .superRefine((contact, ctx) => {
    const seen = new Set<string>();
    contact.emails.forEach((link, index) => {
      if (seen.has(link.email)) {
        ctx.addIssue({
          code: "custom",
          path: ["emails", index, "email"],
          message: "an address not already listed for this contact",
        });
      }
      seen.add(link.email);
    });
  });
export type ContactInput = z.input<typeof contactInputSchema>;

/** A new account, optionally with its contacts and their settings (T11). */
export const accountInputSchema = z.strictObject({
  name: nameSchema,
  kind: z.enum(["person", "family", "business"]),
  contacts: z.array(contactInputSchema).max(500).default([]),
});
export type AccountInput = z.input<typeof accountInputSchema>;

/** T10: a bulk update of settings across accounts. */
export const bulkUpdateSchema = z.strictObject({
  accountIds: z.array(idSchema).min(1, "at least one account id").max(10_000),
  login: z.enum(["do_nothing", "enable", "disable"]).default("do_nothing"),
  notify: z.enum(["do_nothing", "enable", "disable"]).default("do_nothing"),
  emailSync: z.enum(["do_nothing", "enable", "disable"]).default("do_nothing"),
  signatory: z.enum(["do_nothing", "enable", "disable"]).default("do_nothing"),
  sendInvitations: z.boolean().default(true),
  invitationMessage: multiLineText().max(5000).optional(),
  notifyPreferences: notifyPreferencesSchema.optional(),
});
export type BulkUpdateInput = z.input<typeof bulkUpdateSchema>;

/** Y3: the settings of a mailbox its owner controls. */
export const mailboxSettingsSchema = z.strictObject({
  autoSaveAttachments: z.boolean().optional(),
  allowOthersToSend: z.boolean().optional(),
  signatureHtml: multiLineText().max(100_000).optional(),
});

/** A team member. */
export const teamMemberInputSchema = z.strictObject({
  name: nameSchema,
  email: emailSchema,
  role: z.enum(["owner", "admin", "employee"]).default("employee"),
  newMailNotifications: z.enum(["all", "my_mailboxes", "none"]).default("my_mailboxes"),
  timeZone: singleLineText().min(1, "a time zone such as Europe/Paris").default("UTC"),
});

/** A firm. */
export const firmInputSchema = z.strictObject({
  name: nameSchema,
  internalDomains: z
    .array(
      z.string().transform((value, ctx) => {
        const domain = value.trim().toLowerCase();
        try {
          return normalizeAddress(`x@${domain}`).slice(2);
        } catch {
          ctx.addIssue({ code: "custom", message: "a domain name like firm.com" });
          return z.NEVER;
        }
      }),
    )
    .default([]),
  deletionMode: z.enum(["mirror", "retain"]).default("mirror"),
});

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function expectedOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `a value of type ${issue.expected}`;
    case "invalid_value":
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "unrecognized_keys":
      return `no unknown fields (got ${issue.keys.join(", ")})`;
    default:
      return issue.message;
  }
}

/**
 * Parses `input` with `schema`. On failure throws a {@link ValidationError} listing every issue;
 * `prefix` is prepended to field paths (e.g. `rows.12`).
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, prefix = ""): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues: ValidationIssue[] = result.error.issues.map((issue) => {
    const path = issue.path.map(String);
    return {
      field: [prefix, ...path].filter(Boolean).join("."),
      value: issue.code === "unrecognized_keys" ? issue.keys : valueAt(input, issue.path),
      expected: expectedOf(issue),
    };
  });
  throw new ValidationError(issues);
}
