/**
 * One filed message's document, for the sandboxed iframe of the thread view. Its HTML is the
 * SDK's sanitised rendering (`cm.renderMessage`), remote images removed unless `images=allow`
 * (the reader's "Show images"); the answer carries the strict message policy (see csp.ts), so
 * even markup the sanitiser missed could neither run script nor load anything.
 *
 *   GET /messages/:messageId/frame?images=allow
 */
import { Router } from "express";
import { member } from "../../http/session.js";
import type { Services } from "../../services.js";
import { setMessagePolicy } from "../csp.js";
import { guard } from "../context.js";
import { html, raw } from "../html.js";

const frameStyle = raw(
  "body{font:15px/1.5 system-ui,sans-serif;margin:0.75rem;color:#1b1b1b;background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}blockquote{border-left:3px solid #ccc;margin-left:0;padding-left:0.75rem;color:#444}",
);

export function messageFrameRoutes(services: Services): Router {
  const router = Router();
  router.use("/messages", ...guard(services));

  router.get("/messages/:messageId/frame", async (req, res) => {
    const remoteImages = req.query.images === "allow";
    const rendered = await services.cm.renderMessage(member(res).firmId, req.params.messageId, {
      remoteImages: remoteImages ? "allow" : "block",
    });
    setMessagePolicy(res, remoteImages);
    // The sanitised HTML is the one fragment inserted as it is: the SDK made it safe to show.
    res.type("html").send(
      html`<!doctype html>
        <html>
          <head>
            <meta charset="utf-8" />
            <meta name="referrer" content="no-referrer" />
            <style>
              ${frameStyle}
            </style>
          </head>
          <body>
            ${raw(rendered.body.html)}
          </body>
        </html>`.value,
    );
  });

  return router;
}
