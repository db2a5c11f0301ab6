/**
 * The push endpoints, server to server: no session and no CSRF check (each verifies its caller
 * itself), JSON bodies of at most 1 MiB.
 *
 *   POST /push/gmail                      Pub/Sub push, OIDC bearer token → 204   (401/403 bad token)
 *   POST /push/graph?validationToken=…    Graph's validation handshake    → 200 text/plain
 *   POST /push/graph?firm=<firm id>       Graph change and lifecycle notifications → 202
 */
import express, { Router } from "express";
import type { Services } from "../services.js";
import { gmailPush } from "./gmail.js";
import { graphPush } from "./graph.js";

/** The /push router. */
export function pushRouter(services: Services): Router {
  const router = Router();
  router.use(express.json({ limit: "1mb" }));
  router.post("/gmail", gmailPush(services));
  router.post("/graph", graphPush(services));
  return router;
}
