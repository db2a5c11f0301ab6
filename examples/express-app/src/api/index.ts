/**
 * The JSON API, one router per family of endpoints. Every route is behind the session
 * (`requireMember`) except signing up and in; roles are checked per route (`requireRole`).
 * Bodies are JSON only (1 MiB; CSV import takes `{ csv }`), and errors answer
 * `{ code, message, field? }` (http/errors.ts).
 */
import express, { Router } from "express";
import type { Services } from "../services.js";
import { sessionRoutes } from "./session.js";
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
  router.use(mailboxesRoutes(services));
  router.use(threadsRoutes(services));
  router.use(sendingRoutes(services));
  router.use(notificationsRoutes(services));
  router.use(syncRoutes(services));
  return router;
}
