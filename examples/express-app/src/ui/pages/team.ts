/**
 * Team members and their sync (N5, R2): for the firm's owner and admins only, each member with
 * whether their email is synced, the state of each of their mailboxes (with a backfill's
 * progress), its last successful sync and its quarantined messages; then the quarantine itself.
 *
 *   GET /team
 */
import { Router } from "express";
import { requireRole } from "../../http/session.js";
import type { Services } from "../../services.js";
import { guard, sendPage, uiContext } from "../context.js";
import { inProgress, syncState, time } from "../format.js";
import { html } from "../html.js";

export function teamRoutes(services: Services): Router {
  const router = Router();
  const { cm } = services;
  router.use("/team", ...guard(services), requireRole("owner", "admin"));

  router.get("/team", async (req, res) => {
    const ctx = await uiContext(services, req, res);
    const [status, quarantine, mailboxes] = await Promise.all([
      cm.teamSyncStatus(ctx.member.firmId, ctx.member.id),
      cm.quarantinedMessages(ctx.member.firmId, ctx.member.id),
      cm.listMailboxes(ctx.member.firmId),
    ]);
    const address = new Map(mailboxes.map((m) => [m.id, m.address]));
    const busy = status.some((s) => s.mailboxes.some((m) => inProgress(m.state)));
    sendPage(res, ctx, {
      title: "Team",
      section: "team",
      refreshSeconds: busy ? 5 : undefined,
      body: html`<h1>Team members</h1>
        <table class="team">
          <thead>
            <tr>
              <th scope="col">Member</th>
              <th scope="col">Email synced</th>
              <th scope="col">Mailbox</th>
              <th scope="col">State</th>
              <th scope="col">Last sync</th>
              <th scope="col">Quarantined</th>
            </tr>
          </thead>
          <tbody>
            ${status.map((s) => {
              const rows = s.mailboxes.length ? s.mailboxes : [undefined];
              return rows.map(
                (m, i) =>
                  html`<tr>
                    ${
                      i === 0
                        ? html`<th scope="row" rowspan="${rows.length}">
                              ${s.name}<br /><small>${s.email}</small>
                            </th>
                            <td rowspan="${rows.length}">
                              <span class="flag ${s.synced ? "on" : "off"}"
                                >${s.synced ? "Synced" : "Not synced"}</span
                              >
                            </td>`
                        : ""
                    }
                    ${
                      m
                        ? html`<td>${m.address}</td>
                            <td>${syncState(m.state)}</td>
                            <td>${time(m.lastSyncedAt)}</td>
                            <td>${m.quarantined}</td>`
                        : html`<td colspan="4">No mailbox connected</td>`
                    }
                  </tr>`,
              );
            })}
          </tbody>
        </table>
        <h2>Quarantined messages</h2>
        ${
          quarantine.length
            ? html`<table>
                <thead>
                  <tr>
                    <th scope="col">Mailbox</th>
                    <th scope="col">Reason</th>
                    <th scope="col">Attempts</th>
                    <th scope="col">First attempt</th>
                    <th scope="col">Last attempt</th>
                    <th scope="col">Next try</th>
                  </tr>
                </thead>
                <tbody>
                  ${quarantine.map(
                    (q) =>
                      html`<tr>
                        <td>${address.get(q.mailboxId) ?? q.mailboxId}</td>
                        <td>${q.reason}: ${q.detail}</td>
                        <td>${q.attempts}</td>
                        <td>${time(q.firstAttemptAt)}</td>
                        <td>${time(q.lastAttemptAt)}</td>
                        <td>${time(q.nextAttemptAt)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
            : html`<p>No message is in quarantine.</p>`
        }`,
    });
  });

  return router;
}
