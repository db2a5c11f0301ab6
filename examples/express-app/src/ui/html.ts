/**
 * The UI's one way to write HTML: the `html` tagged template escapes every interpolated value
 * (text and attribute context alike: `& < > " '` and the backtick), so mail subjects, names and
 * addresses can never become markup. Fragments already built by `html` pass through as they are;
 * arrays are joined; `undefined`, `null` and `false` print nothing. `raw` marks a string as safe
 * and is only for constant markup.
 */

const marker = Symbol.for("clientmail.example-app.SafeHtml");

/** A fragment of HTML that is safe to insert as it is. */
export class SafeHtml {
  readonly [marker] = true;
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const entities: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

/** Escapes text for an HTML text node or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (char) => entities[char]!);
}

/** One interpolated value, as HTML. */
function render(value: unknown): string {
  if (value === undefined || value === null || value === false) return "";
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join("");
  if (typeof value === "string") return escapeHtml(value);
  if (typeof value === "number" || typeof value === "bigint" || value === true) return String(value);
  throw new TypeError("html: only text, numbers, arrays and html fragments can be interpolated");
}

/** A tagged template that escapes every interpolation (see the module's comment). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** Marks constant markup as safe. Never pass it data from a request, a store or a mail. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
