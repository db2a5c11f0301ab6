/**
 * The Express app: security headers, sessions, the JSON API (/api), the push endpoints (/push),
 * the mailbox connect flows (/connect) and the web UI (/). Built from {@link Services} so tests
 * run it in-process with supertest.
 */
import express, { type Express } from "express";
import { apiRouter } from "./api/index.js";
import { connectRouter } from "./connect/index.js";
import { errorHandler, notFound } from "./http/errors.js";
import { sameOrigin, sessions } from "./http/session.js";
import { pushRouter } from "./push/index.js";
import type { Services } from "./services.js";
import { sendErrorPage } from "./ui/error-page.js";
import { uiRouter } from "./ui/index.js";

/** Builds the app for `services`. */
export function createApp(services: Services): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", false);
  app.use((_req, res, next) => {
    res.set({
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "same-origin",
      "X-Frame-Options": "SAMEORIGIN",
    });
    next();
  });
  app.get("/healthz", async (_req, res) => {
    res.json({ ok: true, sync: await services.cm.sync.health().catch(() => undefined) });
  });
  app.use("/push", pushRouter(services));
  app.use(sessions(services.config));
  app.use(sameOrigin(services.config));
  app.use("/api", apiRouter(services));
  app.use("/connect", connectRouter(services));
  app.use(uiRouter(services));
  app.use(notFound);
  app.use(errorHandler((message, fields) => services.logger.error(message, fields), sendErrorPage));
  return app;
}
