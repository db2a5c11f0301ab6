/**
 * Attachment names made safe to show. A file name comes from the sender and is shown in the CRM
 * next to a download link, so it must not be able to lie about what the file is or where it
 * goes: a right-to-left override turns `invoice\u202Efdp.exe` into what reads as
 * `invoiceexe.pdf`; a path separator or `..` walks out of a folder when the name is used to
 * save; `CON` or `nul.txt` cannot be created on Windows; control characters break lines and
 * terminals.
 */

/** Bidirectional formatting characters (embeddings, overrides, isolates, marks). */
const bidiControls = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;
/** Invisible characters that hide parts of a name: zero-width ones, BOM, soft hyphen, line and paragraph separators. */
const invisible = /[\u00AD\u180E\u200B-\u200D\u2028\u2029\u2060-\u2064\uFEFF]/g;
/** C0 and C1 controls and DEL. */
// eslint-disable-next-line no-control-regex
const controls = /[\u0000-\u001F\u007F-\u009F]/g;
/** Path separators, and the characters Windows refuses in a file name. */
const reserved = /[/\\:*?"<>|\u2215\u2044\u29F8\uFF0F\uFF3C]/g;
/** DOS device names: reserved on Windows with any extension (`nul.txt`), digits including superscripts. */
const deviceName = /^(con|prn|aux|nul|clock\$|conin\$|conout\$|(com|lpt)[0-9\u00B9\u00B2\u00B3])(\.|$)/i;

/** Longest name returned, in code points; the extension is kept when a name is cut. */
const maxLength = 255;

/**
 * A file name safe to display and to save under: bidi controls, invisible and control characters
 * removed; path separators and Windows-reserved characters replaced by `_`; leading and trailing
 * dots and spaces trimmed (Windows drops trailing ones, which can reveal a second extension);
 * Windows device names prefixed with `_`; at most 255 characters, keeping the extension. An empty
 * result becomes `attachment`.
 */
export function safeAttachmentName(name: string): string {
  let safe = name
    .normalize("NFC")
    .replace(bidiControls, "")
    .replace(invisible, "")
    .replace(controls, "")
    .replace(reserved, "_")
    .replace(/\s+/g, " ")
    .replace(/^[\s.]+|[\s.]+$/g, "");
  if (safe === "") return "attachment";
  if (deviceName.test(safe)) safe = `_${safe}`;
  const points = [...safe];
  if (points.length > maxLength) {
    const dot = safe.lastIndexOf(".");
    const extension = dot > 0 ? [...safe.slice(dot)] : [];
    const keep = extension.length > 0 && extension.length <= 16 ? extension : [];
    safe = points.slice(0, maxLength - keep.length).join("") + keep.join("");
  }
  return safe;
}
