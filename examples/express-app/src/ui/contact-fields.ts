/** A new contact's name, address and four toggles (T1), as the forms that add one show and read them. */
import type { ContactInput } from "@clientmail/core";
import { html } from "./html.js";

/** Login, Notify (on by default), Email sync and Signatory checkboxes. */
export const contactSettingsFields = html`<fieldset>
  <legend>Contact settings</legend>
  <label><input type="checkbox" name="login" /> Login</label>
  <label><input type="checkbox" name="notify" checked /> Notify</label>
  <label><input type="checkbox" name="emailSync" /> Email sync</label>
  <label><input type="checkbox" name="signatory" /> Signatory</label>
</fieldset>`;

/** What those forms post, read by their schemas. */
export interface ContactForm {
  firstName: string;
  lastName?: string | undefined;
  email: string;
  login: boolean;
  notify: boolean;
  emailSync: boolean;
  signatory: boolean;
}

/** The contact a form describes: one address with its toggles. */
export function contactFromForm(form: ContactForm): ContactInput {
  const { firstName, lastName, email, login, notify, emailSync, signatory } = form;
  return { firstName, lastName, emails: [{ email, login, notify, emailSync, signatory }] };
}
