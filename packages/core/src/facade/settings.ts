/**
 * Validation of the front door's settings (`createClientMail`): each port given must have the
 * methods clientmail calls, so a wrong object fails at once with the setting named rather than
 * later, deep inside a sync pass. Settings not listed here pass through unchanged.
 */
import { z } from "zod";
import { ValidationError } from "../errors.js";
import { parseInput } from "../domain/schemas.js";
import { syncOptionsSchema } from "./sync-control.js";

/** An object with these methods; `expected` names the port in the error. */
function port(methods: readonly string[], expected: string) {
  return z.custom<object>(
    (value) =>
      typeof value === "object" &&
      value !== null &&
      methods.every((name) => typeof (value as Record<string, unknown>)[name] === "function"),
    { error: `${expected} (an object with ${methods.join(", ")})` },
  );
}

const factory = z.custom<(...args: unknown[]) => unknown>((value) => typeof value === "function", {
  error: "a provider factory: (mailbox, credentials, context) => MailProvider",
});

/** `providers`: one factory, or one per provider kind. */
export const providersSchema = z.union(
  [
    factory,
    z.strictObject({ imap: factory.optional(), gmail: factory.optional(), graph: factory.optional() }),
  ],
  { error: "a provider factory, or { imap?, gmail?, graph? } of factories" },
);

const senderFactory = z.custom<(...args: unknown[]) => unknown>((value) => typeof value === "function", {
  error: "a sender factory: (mailbox, credentials, context) => MailSender",
});

/** `senders`: one factory, or one per provider kind. */
export const sendersSchema = z.union(
  [
    senderFactory,
    z.strictObject({
      imap: senderFactory.optional(),
      gmail: senderFactory.optional(),
      graph: senderFactory.optional(),
    }),
  ],
  { error: "a sender factory, or { imap?, gmail?, graph? } of factories" },
);

/** The settings of `createClientMail` that are checked. */
export const clientMailSettingsSchema = z.looseObject({
  store: port(["transaction", "createFirm", "getMailbox", "listMailboxes"], "a Store"),
  keyring: port(["encrypt", "decrypt", "needsRotation"], "a Keyring").optional(),
  providers: providersSchema.optional(),
  senders: sendersSchema.optional(),
  invitations: z
    .custom<(...args: unknown[]) => unknown>((value) => typeof value === "function", {
      error: "an invitation handler: (event, signal) => Promise<void>",
    })
    .optional(),
  queue: port(["enqueue", "work", "stats", "close"], "a JobQueue").optional(),
  blobs: port(["put", "get", "delete"], "a BlobStore").optional(),
  documents: port(["save"], "a DocumentSink").optional(),
  documentSource: port(["getDocument"], "a DocumentSource").optional(),
  metrics: port(["increment", "observe", "gauge"], "Metrics").optional(),
  logger: port(["debug", "info", "warn", "error"], "a Logger (or fromPino(pino))").optional(),
  clock: port(["now"], "a Clock").optional(),
  sync: syncOptionsSchema.optional(),
});

/**
 * What an issue shows of a setting's value: its shape only. A setting may hold keys or passwords
 * (a keyring's key material passed where the keyring belongs), so no value is ever echoed.
 */
function shapeOf(value: unknown): unknown {
  if (value === null) return "null";
  if (typeof value === "function") return "a function";
  if (typeof value === "object")
    return Array.isArray(value)
      ? "an array"
      : `an object with ${Object.keys(value).slice(0, 10).join(", ") || "no properties"}`;
  if (typeof value === "string") return "a string";
  if (typeof value === "number" || typeof value === "boolean") return value;
  return typeof value === "undefined" ? "undefined" : `a ${typeof value}`;
}

/** Checks `createClientMail`'s settings; a ValidationError names each bad setting and its shape. */
export function checkClientMailSettings(settings: unknown): void {
  if (typeof settings !== "object" || settings === null)
    throw new ValidationError([
      { field: "settings", value: shapeOf(settings), expected: "an object with at least `store`" },
    ]);
  const result = clientMailSettingsSchema.safeParse(settings);
  if (result.success) return;
  try {
    parseInput(clientMailSettingsSchema, settings, "settings");
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ValidationError(error.issues.map((issue) => ({ ...issue, value: shapeOf(issue.value) })));
  }
}
