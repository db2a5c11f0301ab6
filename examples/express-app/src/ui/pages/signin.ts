/**
 * Signing in and out of the UI.
 *
 *   GET  /          → the accounts list, or the sign-in page
 *   GET  /signin    the sign-in form (`next`: where to go after, a path of this app)
 *   POST /signin    { email, password, next? } → 303 next or /accounts
 *   POST /signout   { _csrf } → 303 /signin
 */
import { Router } from "express";
import { z } from "zod";
import { checkFormToken, session, signIn, signOut } from "../../http/session.js";
import type { Services } from "../../services.js";
import { html } from "../html.js";
import { page } from "../layout.js";
import { takeNotice, flash } from "../flash.js";

/** A path of this app (no scheme, no `//host`): the only places a sign-in may send to. */
export function localPath(value: unknown): string {
  return typeof value === "string" && /^\/(?![/\\])/.test(value) ? value : "/accounts";
}

const signInForm = z.object({ email: z.string().trim().max(320), password: z.string().max(200) });

export function signInRoutes(services: Services): Router {
  const router = Router();

  router.get("/", (req, res) => res.redirect(303, session(req).memberId ? "/accounts" : "/signin"));

  router.get("/signin", (req, res) => {
    const next = localPath(req.query.next);
    const notice = takeNotice(req);
    res.type("html").send(
      page({
        title: "Sign in",
        notice,
        body: html`<section class="signin" aria-labelledby="signin-title">
          <h1 id="signin-title">Sign in</h1>
          <form method="post" action="/signin">
            <input type="hidden" name="next" value="${next}" />
            <p>
              <label for="email">Email</label
              ><input id="email" name="email" type="email" autocomplete="username" required />
            </p>
            <p>
              <label for="password">Password</label
              ><input
                id="password"
                name="password"
                type="password"
                autocomplete="current-password"
                required
              />
            </p>
            <p><button type="submit">Sign in</button></p>
          </form>
        </section>`,
      }),
    );
  });

  router.post("/signin", async (req, res) => {
    const next = localPath((req.body as Record<string, unknown>)?.next);
    const parsed = signInForm.safeParse(req.body);
    const who = parsed.success
      ? await services.users.verify(parsed.data.email, parsed.data.password)
      : undefined;
    if (!who) {
      flash(req, { kind: "error", message: "The email or the password is wrong." });
      return res.redirect(303, `/signin?next=${encodeURIComponent(next)}`);
    }
    signIn(req, who);
    res.redirect(303, next);
  });

  router.post("/signout", checkFormToken, (req, res) => {
    signOut(req);
    res.redirect(303, "/signin");
  });

  return router;
}
