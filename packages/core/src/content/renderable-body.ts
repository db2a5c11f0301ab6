/**
 * `renderableBody`: a filed message's body as HTML that is safe to put into the CRM's page, and
 * as text. Bodies are stored as received (the source is the reference, R11) and made safe when
 * they are shown, so a stricter policy applies to mail filed before it.
 *
 * What the sanitiser (sanitize-html, see docs/decisions.md) lets through is an allow list of
 * formatting tags and attributes. Everything that can run script, load a document, navigate, post
 * a form, restyle the host page or report that the mail was opened is dropped: `<script>`,
 * `<style>`, `<iframe>`, `<object>`, `<embed>`, `<svg>`, `<math>`, `<form>` and its controls,
 * `<meta>`, `<base>`, `<link>`, every event handler, `srcset`, `background`, `id`, `name` and
 * `class` (DOM clobbering, spoofing the host's styles), CSS other than plain formatting values
 * (no `url()`, `expression()`, escapes or positioning). Links keep http, https, mailto and tel
 * only and open in a new browsing context without `window.opener`.
 */
import sanitizeHtml from "sanitize-html";
import type { AttachmentMeta, FiledMessage } from "../ports/store/filing-store.js";
import { safeAttachmentName } from "./display-name.js";
import { textFromHtml } from "./html-text.js";

/** How a body is rendered. */
export interface RenderableBodyOptions {
  /**
   * Remote images (`http:`/`https:` sources) are tracking pixels as often as content: `"block"`
   * (default) removes their source, so opening a message in the CRM tells the sender nothing;
   * `"allow"` keeps https and http sources (the reader chose "show images").
   */
  remoteImages?: "block" | "allow" | undefined;
  /**
   * Where the host serves an attachment, for inline images (`cid:` sources). Return undefined to
   * leave an image out. Without it, `cid:` images are left out. The URL is the host's own: it is
   * used as given, so it must be http(s) or relative.
   */
  attachmentUrl?: ((attachment: AttachmentMeta, index: number) => string | undefined) | undefined;
}

/** A body ready to show. */
export interface RenderableBody {
  /** Sanitised HTML. For a text-only message, the text escaped, in a `white-space: pre-wrap` block. */
  html: string;
  /** The message's text; for HTML-only mail, the text of its HTML. */
  text: string;
  /** Remote images whose source was removed (for a "show images" prompt). */
  blockedRemoteImages: number;
  /** Attachments with a {@link safeAttachmentName} to display. */
  attachments: Array<AttachmentMeta & { displayName: string }>;
}

/** Formatting tags mail uses; nothing that loads, runs, navigates by itself or submits. */
const allowedTags = [
  "a",
  "abbr",
  "address",
  "article",
  "b",
  "bdi",
  "bdo",
  "big",
  "blockquote",
  "br",
  "caption",
  "center",
  "cite",
  "code",
  "col",
  "colgroup",
  "dd",
  "del",
  "dfn",
  "div",
  "dl",
  "dt",
  "em",
  "figcaption",
  "figure",
  "font",
  "footer",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "header",
  "hr",
  "i",
  "img",
  "ins",
  "kbd",
  "li",
  "mark",
  "ol",
  "p",
  "pre",
  "q",
  "s",
  "samp",
  "section",
  "small",
  "span",
  "strike",
  "strong",
  "sub",
  "sup",
  "table",
  "tbody",
  "td",
  "tfoot",
  "th",
  "thead",
  "tr",
  "tt",
  "u",
  "ul",
  "var",
  "wbr",
];

/** Tags whose content is dropped with them: script, styles, raw-text and foreign content. */
const nonTextTags = [
  "script",
  "style",
  "textarea",
  "option",
  "select",
  "noscript",
  "noembed",
  "noframes",
  "title",
  "template",
  "xmp",
  "iframe",
  "object",
  "plaintext",
  "svg",
  "math",
  "head",
  "button",
];

const tableCell = ["colspan", "rowspan", "width", "height", "align", "valign", "bgcolor", "nowrap"];

const allowedAttributes: Record<string, string[]> = {
  "*": ["align", "valign", "dir", "lang", "title", "style", "width", "height", "bgcolor", "color"],
  a: ["href", "target", "rel"],
  img: ["src", "alt", "width", "height", "border", "hspace", "vspace"],
  table: ["border", "cellpadding", "cellspacing", "width", "align", "bgcolor"],
  td: tableCell,
  th: tableCell,
  col: ["span", "width"],
  colgroup: ["span", "width"],
  font: ["face", "size", "color"],
  ol: ["start", "type", "reversed"],
  ul: ["type"],
  li: ["value", "type"],
  blockquote: ["cite"],
  q: ["cite"],
  del: ["cite", "datetime"],
  ins: ["cite", "datetime"],
};

/**
 * A CSS value with no function that fetches or computes (`url()`, `image-set()`,
 * `expression()`, `var()`, ...), no escapes (`u\72l(` is `url(`), no comments, no `@`, no
 * brackets that could close the attribute.
 */
const plainCssValue =
  /^(?!.*(?:url|image|image-set|expression|var|env|attr|element|cross-fade|paint)\s*\()(?!.*\/\*)[^\\<>@`{};]*$/i;

const styledProperties = [
  "color",
  "background-color",
  "font",
  "font-family",
  "font-size",
  "font-style",
  "font-weight",
  "font-variant",
  "line-height",
  "letter-spacing",
  "word-spacing",
  "text-align",
  "text-decoration",
  "text-indent",
  "text-transform",
  "white-space",
  "vertical-align",
  "direction",
  "unicode-bidi",
  "width",
  "height",
  "max-width",
  "min-width",
  "max-height",
  "min-height",
  "margin",
  "margin-top",
  "margin-right",
  "margin-bottom",
  "margin-left",
  "padding",
  "padding-top",
  "padding-right",
  "padding-bottom",
  "padding-left",
  "border",
  "border-top",
  "border-right",
  "border-bottom",
  "border-left",
  "border-color",
  "border-style",
  "border-width",
  "border-radius",
  "border-collapse",
  "border-spacing",
  "list-style-type",
  "display",
  "float",
  "clear",
  "table-layout",
  "overflow-wrap",
  "word-break",
];

const allowedStyles = {
  "*": Object.fromEntries(styledProperties.map((property) => [property, [plainCssValue]])),
};

/** Image sources that never leave the page: inline data. */
const inlineImage = /^data:image\/(png|gif|jpe?g|webp|bmp);base64,[a-z0-9+/=\s]*$/i;
const remoteImage = /^https?:\/\//i;
/** Link targets kept (the scheme check proper is sanitize-html's, which also sees through obfuscation). */
const linkScheme = /^(https?:\/\/|mailto:|tel:)/i;

function contentIdOf(src: string): string | undefined {
  const match = /^cid:(.+)$/i.exec(src.trim());
  if (!match) return undefined;
  let id = match[1]!;
  try {
    id = decodeURIComponent(id);
  } catch {
    // a malformed escape is compared as written
  }
  return id.replace(/^<|>$/g, "").trim().toLowerCase();
}

function escapeText(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/**
 * Sanitises `html` (see the module header): the safe HTML, and how many remote images lost
 * their source.
 */
export function sanitizeBodyHtml(
  html: string,
  attachments: readonly AttachmentMeta[],
  options: RenderableBodyOptions = {},
): { html: string; blockedRemoteImages: number } {
  const allowRemote = options.remoteImages === "allow";
  let blockedRemoteImages = 0;
  const byContentId = new Map<string, { attachment: AttachmentMeta; index: number }>();
  attachments.forEach((attachment, index) => {
    if (attachment.contentId) {
      byContentId.set(attachment.contentId.replace(/^<|>$/g, "").trim().toLowerCase(), { attachment, index });
    }
  });
  const imageSource = (src: string | undefined): string | undefined => {
    if (src === undefined) return undefined;
    const trimmed = src.trim();
    const contentId = contentIdOf(trimmed);
    if (contentId !== undefined) {
      const found = byContentId.get(contentId);
      return found ? options.attachmentUrl?.(found.attachment, found.index) : undefined;
    }
    if (inlineImage.test(trimmed)) return trimmed;
    if (remoteImage.test(trimmed)) {
      if (allowRemote) return trimmed;
      blockedRemoteImages += 1;
      return undefined;
    }
    // Relative and protocol-relative sources would load from the CRM's own origin, or anywhere.
    return undefined;
  };
  const safe = sanitizeHtml(html, {
    allowedTags,
    allowedAttributes,
    allowedStyles,
    nonTextTags,
    disallowedTagsMode: "discard",
    allowedSchemes: ["http", "https", "mailto", "tel"],
    allowedSchemesByTag: { img: ["http", "https", "data"] },
    allowedSchemesAppliedToAttributes: ["href", "src", "cite"],
    allowProtocolRelative: false,
    allowVulnerableTags: false,
    parseStyleAttributes: true,
    enforceHtmlBoundary: false,
    transformTags: {
      a: (tagName, attribs) => {
        // Mail has no base URL: a relative link would open a page of the CRM itself.
        const { href, ...rest } = attribs;
        const absolute = href !== undefined && linkScheme.test(href.trim());
        return {
          tagName,
          attribs: {
            ...(absolute ? { href } : {}),
            ...rest,
            target: "_blank",
            rel: "noopener noreferrer nofollow",
          },
        };
      },
      img: (tagName, attribs) => {
        const { src, ...rest } = attribs;
        const mapped = imageSource(src);
        return { tagName, attribs: mapped === undefined ? rest : { src: mapped, ...rest } };
      },
    },
  });
  return { html: safe, blockedRemoteImages };
}

/**
 * The body of a filed message ready to show: sanitised HTML (see the module header), the text
 * (for HTML-only mail, the text of its HTML) and the attachments with names safe to display.
 * Remote images are blocked unless `options.remoteImages` is `"allow"`; `cid:` images are shown
 * through `options.attachmentUrl`.
 */
export function renderableBody(
  message: Pick<FiledMessage, "html" | "text" | "attachments">,
  options: RenderableBodyOptions = {},
): RenderableBody {
  const attachments = message.attachments.map((attachment) => ({
    ...attachment,
    displayName: safeAttachmentName(attachment.filename),
  }));
  const storedText = message.text !== undefined && message.text.trim() !== "" ? message.text : undefined;
  if (message.html === undefined || message.html.trim() === "") {
    const text = storedText ?? "";
    return {
      html: text === "" ? "" : `<div style="white-space: pre-wrap">${escapeText(text)}</div>`,
      text,
      blockedRemoteImages: 0,
      attachments,
    };
  }
  const { html, blockedRemoteImages } = sanitizeBodyHtml(message.html, message.attachments, options);
  return { html, text: storedText ?? textFromHtml(html), blockedRemoteImages, attachments };
}
