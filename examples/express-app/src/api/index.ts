/**
 * The JSON API, one router per family of endpoints. Every route is behind the session
 * (`requireMember`) except signing up and in, and accepting a portal invitation (its token is the
 * credential); roles are checked per route (`requireRole`). Bodies are JSON only (1 MiB), except
 * that CSV import also takes a `text/csv` body (5 MiB), and errors answer
 * `{ code, message, field? }` (http/errors.ts).
 */
import express, { Router } from "express";
import type { Services } from "../services.js";
import { accountsRoutes } from "./accounts.js";
import { bulkRoutes } from "./bulk.js";
import { linksRoutes } from "./links.js";
import { connectRoutes } from "./connect.js";
import { sessionRoutes } from "./session.js";
import { teamRoutes } from "./team.js";
import { mailboxesRoutes } from "./mailboxes.js";
import { threadsRoutes } from "./threads.js";
import { sendingRoutes } from "./sending.js";
import { notificationsRoutes } from "./notifications.js";
import { syncRoutes } from "./sync.js";

/** Mounts every family under /api. */
export function apiRouter(services: Services): Router {
  const router = Router();
  router.use(express.json({ limit: "1mb" }));
  router.use(sessionRoutes(services));
  router.use(teamRoutes(services));
  router.use(accountsRoutes(services));
  router.use(linksRoutes(services));
  router.use(bulkRoutes(services));
  router.use(connectRoutes(services));
  router.use(mailboxesRoutes(services));
  router.use(threadsRoutes(services));
  router.use(sendingRoutes(services));
  router.use(notificationsRoutes(services));
  router.use(syncRoutes(services));
  return router;
}
