/**
 * The web UI, server-rendered, mounted at `/`: sign-in, accounts (list, bulk actions, import),
 * an account's Info and Email tabs, compose and bulk send, Inbox+, team sync status and the
 * member's email settings. Every page is built with the escaping `html` template, runs no script,
 * and carries a strict CSP; forms post the session's CSRF token and redirect back (post/redirect/
 * get). Mail bodies are shown only in sandboxed frames (pages/message-frame.ts).
 */
import { readFileSync } from "node:fs";
import express, { Router } from "express";
import type { Services } from "../services.js";
import { pageSecurity } from "./csp.js";
import { accountEmailRoutes } from "./pages/account-email.js";
import { accountInfoRoutes } from "./pages/account-info.js";
import { accountsRoutes } from "./pages/accounts.js";
import { composeRoutes } from "./pages/compose.js";
import { inboxRoutes } from "./pages/inbox.js";
import { mailboxSettingsRoutes } from "./pages/mailboxes.js";
import { messageFrameRoutes } from "./pages/message-frame.js";
import { signInRoutes } from "./pages/signin.js";
import { teamRoutes } from "./pages/team.js";

const stylesheet = readFileSync(new URL("./app.css", import.meta.url), "utf8");

/** The UI's routes. Paths it does not know fall through (to the app's 404). */
export function uiRouter(services: Services): Router {
  const router = Router();
  router.use(pageSecurity);
  router.get("/ui.css", (_req, res) => {
    res.set("Cache-Control", "public, max-age=300").type("css").send(stylesheet);
  });
  router.use(express.urlencoded({ extended: false, limit: "1mb", parameterLimit: 10_000 }));
  router.use(signInRoutes(services));
  router.use(accountsRoutes(services));
  router.use(accountEmailRoutes(services));
  router.use(accountInfoRoutes(services));
  router.use(composeRoutes(services));
  router.use(inboxRoutes(services));
  router.use(teamRoutes(services));
  router.use(mailboxSettingsRoutes(services));
  router.use(messageFrameRoutes(services));
  return router;
}
