/**
 * Plain text from an HTML body, for HTML-only mail: the text that search, previews, the fallback
 * identity and notifications read. html-to-text is what mailparser uses for the same job, so a
 * message reads the same whether its text came from the provider's parser or from here.
 */
import { convert } from "html-to-text";

/** The readable text of `html`: block structure as line breaks, images and scripts left out. */
export function textFromHtml(html: string): string {
  return convert(html, {
    wordwrap: false,
    selectors: [
      { selector: "img", format: "skip" },
      { selector: "a", options: { hideLinkHrefIfSameAsText: true, ignoreHref: false } },
      { selector: "script", format: "skip" },
      { selector: "style", format: "skip" },
    ],
  }).trim();
}
