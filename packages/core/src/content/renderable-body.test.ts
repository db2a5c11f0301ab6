import { parse, parseFragment, serialize, type DefaultTreeAdapterMap } from "parse5";
import { describe, expect, it } from "vitest";
import type { AttachmentMeta } from "../ports/store/filing-store.js";
import { renderableBody, sanitizeBodyHtml } from "./renderable-body.js";
import { xssCorpus } from "./xss-corpus.js";

type Node = DefaultTreeAdapterMap["node"];
type Element = DefaultTreeAdapterMap["element"];

const htmlNamespace = "http://www.w3.org/1999/xhtml";

/** Elements that run script, load documents or styles, navigate, submit or hide markup. */
const forbiddenElements = new Set([
  "script",
  "style",
  "iframe",
  "frame",
  "frameset",
  "object",
  "embed",
  "applet",
  "param",
  "base",
  "meta",
  "link",
  "form",
  "input",
  "button",
  "textarea",
  "select",
  "option",
  "svg",
  "math",
  "template",
  "noscript",
  "xmp",
  "plaintext",
  "noembed",
  "noframes",
  "isindex",
  "keygen",
  "video",
  "audio",
  "source",
  "picture",
  "bgsound",
  "xml",
  "title",
  "body",
  "html",
  "head",
  "marquee",
  "details",
  "listing",
]);
/** Attributes that load, navigate, submit, clobber the DOM or restyle the host. */
const forbiddenAttributes = new Set([
  "srcset",
  "background",
  "formaction",
  "action",
  "dynsrc",
  "lowsrc",
  "poster",
  "data",
  "code",
  "srcdoc",
  "id",
  "name",
  "class",
  "http-equiv",
  "xmlns",
  "autofocus",
  "contenteditable",
]);
const safeLinkSchemes = /^(https?:|mailto:|tel:)/i;

/** What a browser does with a URL attribute: strips leading/trailing C0 and space, tabs and newlines anywhere. */
function browserUrl(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, "").replace(/[\t\n\r]/g, "");
}

/** Every way left in `fragment` for markup to run script, load a resource or navigate unasked. */
function executionVectors(fragment: Node, remoteImagesAllowed: boolean): string[] {
  const found: string[] = [];
  const visit = (node: Node) => {
    if ("tagName" in node) {
      const element: Element = node;
      const tag = element.tagName.toLowerCase();
      if (String(element.namespaceURI) !== htmlNamespace) found.push(`foreign element <${tag}>`);
      if (forbiddenElements.has(tag)) found.push(`<${tag}>`);
      for (const { name, value } of element.attrs) {
        const attribute = name.toLowerCase();
        if (attribute.startsWith("on")) found.push(`<${tag} ${attribute}>`);
        if (forbiddenAttributes.has(attribute) || attribute.includes(":"))
          found.push(`<${tag} ${attribute}>`);
        if (attribute === "href" || attribute === "cite") {
          if (!safeLinkSchemes.test(browserUrl(value))) found.push(`<${tag} ${attribute}="${value}">`);
        }
        if (attribute === "src") {
          const url = browserUrl(value);
          const inline = /^data:image\/(png|gif|jpe?g|webp|bmp);base64,/i.test(url);
          const host = url.startsWith("https://crm.example/attachments/");
          const remote = /^https?:\/\//i.test(url);
          if (!(inline || host || (remote && remoteImagesAllowed))) found.push(`<${tag} src="${value}">`);
        }
        if (
          attribute === "style" &&
          /url|expression|image|\\|@|behavior|binding|position|var\(|\/\*/i.test(value)
        ) {
          found.push(`<${tag} style="${value}">`);
        }
      }
      if (tag === "a") {
        const rel = element.attrs.find((a) => a.name === "rel")?.value ?? "";
        if (!/\bnoopener\b/.test(rel) || !/\bnoreferrer\b/.test(rel))
          found.push(`<a> without rel=noopener noreferrer`);
      }
    }
    if ("childNodes" in node) for (const child of node.childNodes) visit(child);
    if ("content" in node && node.content) visit(node.content);
  };
  visit(fragment);
  return found;
}

/**
 * Checks the sanitised output the way a browser meets it: parsed by an HTML5 parser (parse5, the
 * spec's algorithm), and again after a serialise-and-reparse round trip, which is where mutation
 * XSS appears (markup that changes meaning when `innerHTML` is read and written back).
 */
function vectorsAfterBrowserParse(html: string, remoteImagesAllowed = false): string[] {
  const once = parseFragment(html);
  const twice = parseFragment(serialize(once));
  // As a whole document too (a host may show the body in a sandboxed frame's srcdoc): there
  // <body onload> and <frameset> count.
  const document = parse(html);
  const skeleton = new Set(["html", "head", "body"]);
  const inDocument = executionVectors(document, remoteImagesAllowed).filter(
    (found) => !(skeleton.has(found.slice(1, -1)) || found === "foreign element <undefined>"),
  );
  return [
    ...executionVectors(once, remoteImagesAllowed),
    ...executionVectors(twice, remoteImagesAllowed),
    ...inDocument,
  ];
}

/**
 * Corpus entries that nothing in an HTML5 browser runs, even unsanitised, so the checker rightly
 * finds nothing in them: IE conditional comments and XML processing instructions are comments,
 * Netscape's `&{...}` entities are text, IE's HTML+TIME `<t:set>` is an unknown element, a tag cut off by the end of input is dropped, and markup
 * inside a quoted attribute value stays text (they are in the corpus as mXSS controls: the
 * sanitiser must not turn them into markup).
 */
const inertInBrowsers = new Set([
  `<iframe src=https://xss.example/scriptlet.html <`,
  "<IMG SRC=\"`<javascript:alert>`('XSS')\"",
  `<BR SIZE="&{alert('XSS')}">`,
  `<HTML><BODY><?xml:namespace prefix="t" ns="urn:schemas-microsoft-com:time"><?import namespace="t" implementation="#default#time2"><t:set attributeName="innerHTML" to="XSS<SCRIPT DEFER>alert(&quot;XSS&quot;)</SCRIPT>"></BODY></HTML>`,
  `<!--[if gte IE 4]><SCRIPT>alert('XSS');</SCRIPT><![endif]-->`,
  `<img alt="<x" title="/><img src=x onerror=alert(1)>">`,
  `<!--!><img src=x onerror=alert(1)>-->`,
  `<?xml-stylesheet href="javascript:alert(1)"?>`,
  `<div title="&lt;img src=x onerror=alert(1)&gt;">ok</div>`,
]);

const logo: AttachmentMeta = {
  filename: "logo.png",
  contentType: "image/png",
  size: 10,
  contentHash: "a".repeat(64),
  contentId: "logo@firm",
};
const attachmentUrl = (attachment: AttachmentMeta) =>
  `https://crm.example/attachments/${attachment.contentHash}`;

describe("renderableBody", () => {
  it.each(xssCorpus.map((vector, index) => [index, vector]))(
    "no script execution vector survives corpus entry %i",
    (_index, vector) => {
      for (const remoteImages of ["block", "allow"] as const) {
        const { html } = sanitizeBodyHtml(vector, [logo], { remoteImages, attachmentUrl });
        expect(vectorsAfterBrowserParse(html, remoteImages === "allow"), html).toEqual([]);
        // Sanitising its own output changes nothing: what was kept is kept for what it is.
        // (Allowing remote images, as the host's attachment URLs are remote on a second pass.)
        expect(sanitizeBodyHtml(html, [logo], { remoteImages: "allow" }).html).toBe(html);
      }
    },
  );

  it("the checker finds a vector in every corpus entry as written (so the test above can fail)", () => {
    const unnoticed = xssCorpus.filter((vector) => vectorsAfterBrowserParse(vector).length === 0);
    expect(unnoticed.filter((vector) => !inertInBrowsers.has(vector))).toEqual([]);
    expect(unnoticed.length).toBe(inertInBrowsers.size);
  });

  it("the corpus is not made safe by emptying it: text and formatting around the vectors stay", () => {
    const { html } = sanitizeBodyHtml(
      `<table width="600"><tr><td style="padding: 8px; color: #333; position: fixed">` +
        `<p>Dear <b>Jo</b>, your return is <a href="https://portal.example/r/1">ready</a>.</p>` +
        `<script>alert(1)</script><img src="x" onerror="alert(1)" alt="chart"></td></tr></table>`,
      [],
    );
    expect(html).toBe(
      `<table width="600"><tr><td style="padding:8px;color:#333">` +
        `<p>Dear <b>Jo</b>, your return is <a href="https://portal.example/r/1" target="_blank" rel="noopener noreferrer nofollow">ready</a>.</p>` +
        `<img alt="chart" /></td></tr></table>`,
    );
  });

  it("remote images are blocked by default and counted; allowed on request; inline data images stay", () => {
    const body =
      `<p>Hi</p><img src="https://tracker.example/open.gif?u=jo" width="1"><img src="//cdn.example/x.png">` +
      `<img src="data:image/png;base64,iVBORw0KGgo=">`;
    const blocked = sanitizeBodyHtml(body, []);
    expect(blocked.blockedRemoteImages).toBe(1);
    expect(blocked.html).not.toContain("tracker.example");
    expect(blocked.html).not.toContain("cdn.example");
    expect(blocked.html).toContain(`src="data:image/png;base64,iVBORw0KGgo="`);
    const allowed = sanitizeBodyHtml(body, [], { remoteImages: "allow" });
    expect(allowed.blockedRemoteImages).toBe(0);
    expect(allowed.html).toContain(`src="https://tracker.example/open.gif?u=jo"`);
    // protocol-relative sources never load: they would take the CRM page's scheme and reach anywhere
    expect(allowed.html).not.toContain("cdn.example");
  });

  it("cid: images are mapped to the host's attachment URL by Content-ID; unknown ones are left out", () => {
    const body = `<img src="cid:LOGO@firm" alt="logo"><img src="cid:%3Clogo@firm%3E"><img src="cid:other@x">`;
    const { html } = sanitizeBodyHtml(body, [logo], { attachmentUrl });
    expect(html).toBe(
      `<img src="${attachmentUrl(logo)}" alt="logo" /><img src="${attachmentUrl(logo)}" /><img />`,
    );
    expect(sanitizeBodyHtml(body, [logo]).html).toBe(`<img alt="logo" /><img /><img />`);
  });

  it("links keep http, https, mailto and tel only, and open without window.opener", () => {
    const { html } = sanitizeBodyHtml(
      `<a href="mailto:ann@firm.example">m</a><a href="tel:+441234">t</a>` +
        `<a href="javascript:alert(1)" rel="opener" target="_self">j</a><a href="ftp://x.example/">f</a>`,
      [],
    );
    expect(html).toBe(
      `<a href="mailto:ann@firm.example" target="_blank" rel="noopener noreferrer nofollow">m</a>` +
        `<a href="tel:+441234" target="_blank" rel="noopener noreferrer nofollow">t</a>` +
        `<a rel="noopener noreferrer nofollow" target="_blank">j</a>` +
        `<a target="_blank" rel="noopener noreferrer nofollow">f</a>`,
    );
  });

  it("HTML-only mail gets a text from its HTML; text-only mail gets escaped HTML; stored text wins", () => {
    const htmlOnly = renderableBody({
      html: `<p>Your <b>tax return</b> is ready.</p><script>steal()</script><p>Second line</p>`,
      text: undefined,
      attachments: [],
    });
    expect(htmlOnly.text).toBe("Your tax return is ready.\n\nSecond line");
    expect(htmlOnly.html).toBe(`<p>Your <b>tax return</b> is ready.</p><p>Second line</p>`);
    const textOnly = renderableBody({ html: undefined, text: "a < b & <script>", attachments: [] });
    expect(textOnly.html).toBe(`<div style="white-space: pre-wrap">a &lt; b &amp; &lt;script&gt;</div>`);
    expect(textOnly.text).toBe("a < b & <script>");
    expect(renderableBody({ html: "<p>x</p>", text: "own text", attachments: [] }).text).toBe("own text");
    expect(renderableBody({ html: undefined, text: undefined, attachments: [] })).toEqual({
      html: "",
      text: "",
      blockedRemoteImages: 0,
      attachments: [],
    });
  });

  it("attachments come with a display name safe to show", () => {
    const rendered = renderableBody({
      html: undefined,
      text: "x",
      attachments: [{ ...logo, filename: "invoice\u202Efdp.exe" }],
    });
    expect(rendered.attachments[0]!.displayName).toBe("invoicefdp.exe");
    expect(rendered.attachments[0]!.filename).toBe("invoice\u202Efdp.exe");
  });
});
