/**
 * Long work in progress, shown where its result will appear: each mailbox that is still
 * connecting or fetching its history (N5's `backfilling done/estimated`), and whether the job
 * queue still has work (a targeted backfill after email sync was turned on, Y5; sends). A page
 * showing work in progress refreshes itself.
 */
import type { Mailbox } from "@clientmail/core";
import type { Services } from "../../services.js";
import { inProgress, syncState } from "../format.js";
import { html, type SafeHtml } from "../html.js";

export interface SyncProgress {
  busy: boolean;
  block: SafeHtml;
}

export async function syncProgress(services: Services, firmId: string): Promise<SyncProgress> {
  const mailboxes: Mailbox[] = await services.cm.listMailboxes(firmId);
  const stats = await services.queue.stats().catch(() => undefined);
  // Only jobs that are due: a mailbox's next poll waiting for its time is not work in progress.
  const queued = stats?.oldestWaitingAt !== undefined ? stats.waiting : 0;
  const working = mailboxes.filter((m) => inProgress(m.state));
  const busy = working.length > 0 || queued > 0;
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
              ? html` <progress max="${state.estimated}" value="${state.done}">${state.done} of ${state.estimated}</progress>`
              : "";
          return html`<li>${m.address}: ${syncState(state)}${bar}</li>`;
        })}
        ${queued > 0 ? html`<li>${queued} sync and send jobs waiting</li>` : ""}
      </ul>
      <small>This page refreshes itself until the work is done.</small>
    </div>`,
  };
}
