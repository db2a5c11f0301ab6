/**
 * Connecting an IMAP/SMTP mailbox, shared by the JSON API (`POST /api/mailboxes/imap`) and the
 * Email settings page: the input's schema, the connection test (imap-test.ts, under the app's host
 * policy, R9) and `cm.connectMailbox`, in that order, so nothing is saved unless the test passed.
 * A failed test is the SDK's ConnectionError; {@link connectionFailure} says how to answer it.
 */
import { z } from "zod";
import { ConnectionError, ValidationError, type Mailbox, type TeamMember } from "@clientmail/core";
import { HttpError, statusOfCode } from "../http/errors.js";
import { parse } from "../http/validate.js";
import { hostPolicyOf, type ImapCredentials } from "../providers.js";
import type { Services } from "../services.js";
import { testImapConnection } from "./imap-test.js";

const security = z.enum(["tls", "starttls", "none"], { message: "tls, starttls or none" });
const host = z.string().trim().min(1, "a host name or IP address").max(253, "at most 253 characters");
const port = z
  .number("a port from 1 to 65535")
  .int("a whole number")
  .min(1, "a port from 1 to 65535")
  .max(65_535, "a port from 1 to 65535");
const secret = z.string().min(1, "the password").max(1_000, "at most 1000 characters");

/** What connecting an IMAP/SMTP mailbox takes. */
export const imapConnectSchema = z.strictObject({
  address: z.email("an email address").max(320),
  displayName: z.string().trim().min(1).max(200, "at most 200 characters").optional(),
  memberId: z.string().min(1).max(100).optional(),
  imap: z.strictObject({
    host,
    port: port.optional(),
    security: security.default("tls"),
    user: z.string().min(1, "the login name").max(320, "at most 320 characters"),
    password: secret,
  }),
  smtp: z
    .strictObject({
      host,
      port: port.optional(),
      security: security.default("tls"),
      user: z.string().min(1).max(320).optional(),
      password: secret.optional(),
    })
    .optional(),
});
export type ImapConnectInput = z.output<typeof imapConnectSchema>;

const secretFields = new Set(["imap.password", "smtp.password"]);

/**
 * Parses the input; a failure is a ValidationError naming each field, whose message never holds
 * a password (its value is replaced by "(hidden)").
 */
export function parseImapConnect(value: unknown): ImapConnectInput {
  try {
    return parse(imapConnectSchema, value);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ValidationError(
      error.issues.map((issue) => (secretFields.has(issue.field) ? { ...issue, value: "(hidden)" } : issue)),
    );
  }
}

/** Drops undefined fields, so the stored JSON holds only what was given. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Tests the connection, then connects the mailbox for `who` (a member connects their own mailbox
 * only: naming another member is refused, whatever the role). Throws the test's ConnectionError.
 */
export async function connectImapMailbox(
  services: Services,
  who: TeamMember,
  input: ImapConnectInput,
): Promise<Mailbox> {
  if (input.memberId !== undefined && input.memberId !== who.id)
    throw new HttpError(403, "permission_denied", "A member connects their own mailbox only.", "memberId");
  const credentials: ImapCredentials = {
    imap: defined(input.imap),
    ...(input.smtp ? { smtp: defined(input.smtp) } : {}),
  };
  await testImapConnection(credentials, hostPolicyOf(services.config, services.outbound));
  return services.cm.connectMailbox(who.firmId, who.id, {
    provider: "imap",
    address: input.address,
    ...(input.displayName ? { displayName: input.displayName } : {}),
    credentials: JSON.stringify(credentials),
  });
}

/** How a failed connection test is answered: its status, and the body naming the field to fix. */
export interface ConnectionFailure {
  status: number;
  body: { code: string; message: string; field: string; reason: string; hint?: string };
}

/** The answer to a failed connection test, or undefined when `error` is not one. */
export function connectionFailure(error: unknown): ConnectionFailure | undefined {
  if (!ConnectionError.isInstance(error)) return undefined;
  return {
    status: statusOfCode[error.code] ?? 502,
    body: {
      code: error.code,
      message: error.message,
      field: `${error.details.provider === "smtp" ? "smtp" : "imap"}.${error.reason === "auth_failed" ? "password" : "host"}`,
      reason: error.reason,
      ...(error.hint ? { hint: error.hint } : {}),
    },
  };
}
