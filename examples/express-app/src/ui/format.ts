/** How the UI writes dates, addresses, portal status (T3) and a mailbox's sync state (N5). */
import type { EmailAddress, MailboxSyncState, PortalStatus } from "@clientmail/core";
import { html, type SafeHtml } from "./html.js";

/** A date in UTC, minutes precision; `—` for none. */
export function when(date: Date | undefined): string {
  if (!date) return "—";
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** A `<time>` element. */
export function time(date: Date | undefined): SafeHtml {
  return date ? html`<time datetime="${date.toISOString()}">${when(date)}</time>` : html`—`;
}

/** `Name <address>` list. */
export function addresses(list: readonly EmailAddress[] | undefined): string {
  return (list ?? []).map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(", ");
}

const portalLabels: Record<PortalStatus, string> = {
  activated: "Activated",
  pending_activation: "Pending activation",
  not_activated: "Not activated",
};

/** T3: the colour-coded portal status (green, yellow, grey), with its words for screen readers. */
export function portalBadge(status: PortalStatus): SafeHtml {
  return html`<span class="status status-${status}">${portalLabels[status]}</span>`;
}

/** A yes/no cell. */
export function yesNo(on: boolean): SafeHtml {
  return html`<span class="flag ${on ? "on" : "off"}">${on ? "On" : "Off"}</span>`;
}

/** N5/R6: a mailbox's sync state in words, with the backfill's progress. */
export function syncState(state: MailboxSyncState): string {
  switch (state.status) {
    case "connecting":
      return "Connecting";
    case "backfilling":
      return state.estimated === undefined
        ? `Fetching history: ${state.done} messages`
        : `Fetching history: ${state.done} of ${state.estimated}`;
    case "live":
      return "Synced";
    case "retrying":
      return `Retrying (attempt ${state.attempt}, next ${when(state.nextAttemptAt)}): ${
        state.lastErrorMessage ?? state.lastError
      }`;
    case "throttled":
      return `Throttled by the provider until ${when(state.until)}`;
    case "stopped":
      return `Stopped (${state.reason.replace(/_/g, " ")}) — reconnect`;
  }
}

/** Whether a state is long work still going on (the page then refreshes itself). */
export function inProgress(state: MailboxSyncState): boolean {
  return state.status === "connecting" || state.status === "backfilling";
}
