/**
 * Long work in progress, shown where its result will appear: each mailbox that is still
 * connecting or fetching its history (N5's `backfilling done/estimated`), and the history of
 * addresses whose email sync was just turned on (Y5), which the workers fetch from every mailbox.
 * A page showing work in progress refreshes itself.
 *
 * The targeted backfill has no progress of its own in the SDK, so the Email tab follows it for a
 * short while after the toggle (a mark in the session), refreshing as threads arrive.
 */
import type { Request } from "express";
import type { Mailbox } from "@clientmail/core";
import type { Services } from "../../services.js";
import { inProgress, syncState } from "../format.js";
import { html, type SafeHtml } from "../html.js";

/** How long the Email tab follows a targeted backfill after email sync was turned on. */
export const backfillWatchMs = 45_000;

type WithWatch = { backfillWatch?: { accountId: string; until: number } };

/** Marks that email sync was just turned on in `accountId` (its history is being fetched). */
export function watchBackfill(req: Request, accountId: string): void {
  if (req.session)
    (req.session as WithWatch).backfillWatch = { accountId, until: Date.now() + backfillWatchMs };
}

export interface SyncProgress {
  busy: boolean;
  block: SafeHtml;
}

export async function syncProgress(
  services: Services,
  firmId: string,
  req: Request,
  accountId?: string,
): Promise<SyncProgress> {
  const mailboxes: Mailbox[] = await services.cm.listMailboxes(firmId);
  const working = mailboxes.filter((m) => inProgress(m.state));
  const watch = (req.session as WithWatch | null | undefined)?.backfillWatch;
  const following = watch !== undefined && watch.accountId === accountId && watch.until > Date.now();
  const busy = working.length > 0 || following;
  if (!busy) return { busy, block: html`` };
  return {
    busy,
    block: html`<div class="progress" role="status" aria-live="polite">
      <strong>Sync in progress</strong>
      <ul>
        ${working.map((m) => {
          const state = m.state;
          const bar =
            state.status === "backfilling" && state.estimated
              ? html` <progress max="${state.estimated}" value="${state.done}">
                  ${state.done} of ${state.estimated}
                </progress>`
              : "";
          return html`<li>${m.address}: ${syncState(state)}${bar}</li>`;
        })}
        ${
          following
            ? html`<li>
                Fetching the history of the addresses just synced from ${mailboxes.length}
                mailbox${mailboxes.length === 1 ? "" : "es"}…
              </li>`
            : ""
        }
      </ul>
      <small>This page refreshes itself while the work goes on.</small>
    </div>`,
  };
}
