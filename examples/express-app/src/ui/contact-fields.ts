/** The four toggles of a new contact's address (T1), as the forms that add one show them. */
import { html } from "./html.js";

/** Login, Notify (on by default), Email sync and Signatory checkboxes. */
export const contactSettingsFields = html`<fieldset>
  <legend>Contact settings</legend>
  <label><input type="checkbox" name="login" /> Login</label>
  <label><input type="checkbox" name="notify" checked /> Notify</label>
  <label><input type="checkbox" name="emailSync" /> Email sync</label>
  <label><input type="checkbox" name="signatory" /> Signatory</label>
</fieldset>`;
