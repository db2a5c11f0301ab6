/**
 * Templates and signatures (S2, S3). Shortcodes like `[ACCOUNT_NAME]` are resolved per account and
 * recipient; an unknown shortcode is an error when composing, never a literal in a sent email.
 */
import { UnknownShortcodeError } from "../errors.js";

/** The shortcodes clientmail resolves. */
export const shortcodes = [
  "ACCOUNT_NAME",
  "CONTACT_FIRST_NAME",
  "CONTACT_LAST_NAME",
  "CONTACT_FULL_NAME",
  "CONTACT_EMAIL",
  "FIRM_NAME",
  "SENDER_NAME",
  "SENDER_FIRST_NAME",
  "SENDER_EMAIL",
] as const;

export type Shortcode = (typeof shortcodes)[number];

/** The values of every shortcode for one account and one recipient. */
export type ShortcodeValues = Record<Shortcode, string>;

const known: ReadonlySet<string> = new Set(shortcodes);
const shortcodePattern = /\[([A-Z][A-Z0-9_]*)\]/g;

/** A part of a parsed template. */
export type TemplatePart = { kind: "text"; text: string } | { kind: "shortcode"; name: Shortcode };

/** A template checked at compose time. */
export interface CompiledTemplate {
  parts: readonly TemplatePart[];
  /** The shortcodes it uses, each once. */
  uses: readonly Shortcode[];
}

/**
 * S2: parses a template. Any `[UPPER_CASE]` token that is not a known shortcode is reported —
 * all of them at once — with an {@link UnknownShortcodeError} naming `field`.
 */
export function compileTemplate(template: string, field = "body"): CompiledTemplate {
  const parts: TemplatePart[] = [];
  const unknown: string[] = [];
  const uses = new Set<Shortcode>();
  let last = 0;
  for (const match of template.matchAll(shortcodePattern)) {
    const name = match[1]!;
    if (!known.has(name)) {
      if (!unknown.includes(name)) unknown.push(name);
      continue;
    }
    if (match.index > last) parts.push({ kind: "text", text: template.slice(last, match.index) });
    parts.push({ kind: "shortcode", name: name as Shortcode });
    uses.add(name as Shortcode);
    last = match.index + match[0].length;
  }
  if (unknown.length > 0) throw new UnknownShortcodeError(unknown, field);
  if (last < template.length) parts.push({ kind: "text", text: template.slice(last) });
  return { parts, uses: [...uses] };
}

/** Escapes text for an HTML body. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/**
 * S2: renders a compiled template for one account and recipient. In an HTML body the values are
 * HTML-escaped, so a client named `<script>` stays text. In a subject, line breaks in values are
 * flattened so a value can never add a header.
 */
export function renderTemplate(
  template: CompiledTemplate,
  values: ShortcodeValues,
  format: "text" | "html" | "subject",
): string {
  let out = "";
  for (const part of template.parts) {
    if (part.kind === "text") {
      out += part.text;
      continue;
    }
    const value = values[part.name];
    out +=
      format === "html" ? escapeHtml(value) : format === "subject" ? value.replace(/[\r\n\0]+/g, " ") : value;
  }
  return out;
}

/** The facts shortcode values are made from. */
export interface ShortcodeSource {
  account: { name: string };
  contact: { firstName: string; lastName: string };
  recipientEmail: string;
  firm: { name: string };
  sender: { name: string; email: string };
}

/** Builds the values of every shortcode for one recipient. */
export function shortcodeValues(source: ShortcodeSource): ShortcodeValues {
  const fullName = `${source.contact.firstName} ${source.contact.lastName}`.trim();
  return {
    ACCOUNT_NAME: source.account.name,
    CONTACT_FIRST_NAME: source.contact.firstName,
    CONTACT_LAST_NAME: source.contact.lastName,
    CONTACT_FULL_NAME: fullName,
    CONTACT_EMAIL: source.recipientEmail,
    FIRM_NAME: source.firm.name,
    SENDER_NAME: source.sender.name,
    SENDER_FIRST_NAME: source.sender.name.split(/\s+/)[0] ?? "",
    SENDER_EMAIL: source.sender.email,
  };
}

/** Where a message was written: through clientmail, or in the provider's own mail client. */
export type MessageOrigin = "sdk" | "provider_client";

/**
 * S3: appends the mailbox's signature to a body — only for mail sent through clientmail; mail
 * written in the provider's own client is never touched. An HTML body gets the signature HTML; a
 * text body gets a plain-text rendering of it after the conventional `-- ` separator.
 */
export function withSignature(
  body: { html?: string | undefined; text?: string | undefined },
  signatureHtml: string,
  origin: MessageOrigin,
): { html?: string | undefined; text?: string | undefined } {
  if (origin !== "sdk" || signatureHtml.trim() === "") return body;
  return {
    html:
      body.html === undefined
        ? undefined
        : `${body.html}<div class="clientmail-signature">${signatureHtml}</div>`,
    text: body.text === undefined ? undefined : `${body.text}\n\n-- \n${htmlToText(signatureHtml)}`,
  };
}

function htmlToText(html: string): string {
  return html
    .replace(/<br\s*\/?>/gi, "\n")
    .replace(/<\/(p|div|li|tr)>/gi, "\n")
    .replace(/<[^>]*>/g, "")
    .replace(/&nbsp;/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
    .replace(/&amp;/g, "&")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}
