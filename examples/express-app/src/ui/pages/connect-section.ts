/**
 * The "Connect a mailbox" section of the Email settings page: a button per OAuth provider the app
 * is configured for (the same check as `GET /api/connect`), and the IMAP/SMTP form, which posts to
 * `/settings/connect/imap` (mailboxes.ts). A failed connect shows the page again with the SDK's
 * message next to the form and the fields as they were sent — except the password, never echoed.
 */
import type { Request } from "express";
import type { connectOptions } from "../../connect/oauth.js";
import { html, type SafeHtml } from "../html.js";

/** The form's text fields as sent, and why the last try failed. */
export interface ImapFormState {
  values: Record<string, string>;
  error: { message: string; field?: string | undefined };
}

/** The form's fields that are shown again after a failure (never the password). */
const echoed = [
  "address",
  "displayName",
  "imap.host",
  "imap.port",
  "imap.security",
  "imap.user",
  "smtp.host",
  "smtp.port",
  "smtp.security",
] as const;

/** The fields of a failed form to show again. */
export function echoForm(body: unknown): Record<string, string> {
  const sent = (body ?? {}) as Record<string, unknown>;
  const values: Record<string, string> = {};
  for (const name of echoed) {
    const value = sent[name];
    if (typeof value === "string") values[name] = value.slice(0, 400);
  }
  return values;
}

/**
 * The form as the input of `POST /api/mailboxes/imap`: empty fields are not given, a port is a
 * number (anything else is left for the schema to refuse, naming the field); the SMTP part is given
 * when its host or port is.
 */
export function imapFormInput(body: unknown): unknown {
  const sent = (body ?? {}) as Record<string, unknown>;
  const text = (name: string): string | undefined => {
    const value = sent[name];
    return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
  };
  const port = (name: string): number | string | undefined => {
    const value = text(name);
    return value !== undefined && /^\d{1,5}$/.test(value) ? Number(value) : value;
  };
  const password = sent["imap.password"];
  const smtp = text("smtp.host") !== undefined || text("smtp.port") !== undefined;
  return {
    address: text("address") ?? "",
    displayName: text("displayName"),
    imap: {
      host: text("imap.host") ?? "",
      port: port("imap.port"),
      security: text("imap.security"),
      user: text("imap.user") ?? "",
      password: typeof password === "string" ? password : "",
    },
    smtp: smtp
      ? { host: text("smtp.host") ?? "", port: port("smtp.port"), security: text("smtp.security") }
      : undefined,
  };
}

const errorId = "connect-imap-error";

/** One labelled input; the field the error names is marked invalid and described by it. */
function field(
  state: ImapFormState | undefined,
  name: string,
  label: string,
  attributes: { type?: string; required?: boolean; autocomplete?: string; inputmode?: string } = {},
): SafeHtml {
  const id = `cx-${name.replace(".", "-")}`;
  const invalid = state?.error.field === name;
  const value = attributes.type === "password" ? "" : (state?.values[name] ?? "");
  return html`<p>
    <label for="${id}">${label}</label>
    <input
      id="${id}"
      name="${name}"
      type="${attributes.type ?? "text"}"
      value="${value}"
      ${attributes.required ? html` required` : ""}
      ${attributes.autocomplete ? html` autocomplete="${attributes.autocomplete}"` : ""}
      ${attributes.inputmode ? html` inputmode="${attributes.inputmode}"` : ""}
      ${invalid ? html` aria-invalid="true" aria-describedby="${errorId}"` : ""}
    />
  </p>`;
}

function securityField(state: ImapFormState | undefined, name: string, label: string): SafeHtml {
  const id = `cx-${name.replace(".", "-")}`;
  const current = state?.values[name] ?? "tls";
  const options = [
    ["tls", "TLS (usually port 993 for IMAP, 465 for SMTP)"],
    ["starttls", "STARTTLS (usually port 143 for IMAP, 587 for SMTP)"],
    ["none", "None (only for a server on your own network)"],
  ] as const;
  return html`<p>
    <label for="${id}">${label}</label>
    <select id="${id}" name="${name}" ${state?.error.field === name ? html` aria-invalid="true"` : ""}>
      ${options.map(
        ([value, text]) =>
          html`<option value="${value}" ${value === current ? html` selected` : ""}>${text}</option>`,
      )}
    </select>
  </p>`;
}

/** Where the OAuth callback brings the browser back. */
const returnTo = encodeURIComponent("/settings/mailboxes");

/** The section. */
export function connectSection(
  csrf: string,
  options: ReturnType<typeof connectOptions>,
  state: ImapFormState | undefined,
): SafeHtml {
  const buttons = [
    options.google
      ? html`<a class="button" href="/connect/google?returnTo=${returnTo}">Connect Gmail</a>`
      : "",
    options.microsoft
      ? html`<a class="button" href="/connect/microsoft?returnTo=${returnTo}">Connect Microsoft 365</a>`
      : "",
  ];
  return html`<section class="panel" aria-labelledby="connect-title">
    <h2 id="connect-title">Connect a mailbox</h2>
    ${options.google || options.microsoft ? html`<p>${buttons}</p>` : ""}
    <form method="post" action="/settings/connect/imap" aria-labelledby="connect-imap-title">
      <h3 id="connect-imap-title">IMAP/SMTP mailbox</h3>
      ${state ? html`<p class="notice error" role="alert" id="${errorId}">${state.error.message}</p>` : ""}
      <input type="hidden" name="_csrf" value="${csrf}" />
      ${field(state, "address", "Email address", { type: "email", required: true, autocomplete: "email" })}
      ${field(state, "displayName", "Name shown (optional)")}
      <fieldset>
        <legend>Incoming mail (IMAP)</legend>
        ${field(state, "imap.host", "Server", { required: true })}
        ${field(state, "imap.port", "Port (optional)", { inputmode: "numeric" })}
        ${securityField(state, "imap.security", "Security")}
        ${field(state, "imap.user", "Login name", { required: true, autocomplete: "username" })}
        ${field(state, "imap.password", "Password", {
          type: "password",
          required: true,
          autocomplete: "current-password",
        })}
      </fieldset>
      <fieldset>
        <legend>Outgoing mail (SMTP, optional: the IMAP server and login by default)</legend>
        ${field(state, "smtp.host", "Server")} ${field(state, "smtp.port", "Port", { inputmode: "numeric" })}
        ${securityField(state, "smtp.security", "Security")}
      </fieldset>
      <p><button type="submit">Test and connect</button></p>
    </form>
  </section>`;
}

/** The mailbox id of an OAuth callback's `?connected=`, if any. */
export function connectedId(req: Request): string | undefined {
  const value = req.query.connected;
  return typeof value === "string" && value.length <= 100 ? value : undefined;
}
