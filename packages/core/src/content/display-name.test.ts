import { describe, expect, it } from "vitest";
import { safeAttachmentName } from "./display-name.js";

describe("safeAttachmentName", () => {
  it.each([
    ["a right-to-left override cannot disguise the extension", "invoice\u202Efdp.exe", "invoicefdp.exe"],
    [
      "every bidi embedding, isolate and mark is removed",
      "a\u202Ab\u202Bc\u202Cd\u202De\u2066f\u2067g\u2068h\u2069i\u200Ej\u200Fk\u061Cl.txt",
      "abcdefghijkl.txt",
    ],
    ["zero-width and invisible characters are removed", "re\u200Bport\uFEFF\u00AD.pdf", "report.pdf"],
    ["control characters are removed", "line\r\nbreak\u0000\u0007\u009B.txt", "linebreak.txt"],
    ["path separators cannot walk out of a folder", "../../etc/passwd", "_.._etc_passwd"],
    [
      "Windows separators, drive letters and reserved characters",
      'C:\\Windows\\evil<>|?*".bat',
      "C__Windows_evil______.bat",
    ],
    ["look-alike slashes are separators too", "a\u2215b\uFF0Fc.txt", "a_b_c.txt"],
    ["a device name is prefixed", "CON", "_CON"],
    ["a device name with an extension is prefixed", "nul.txt", "_nul.txt"],
    ["COM and LPT ports, superscript digits included", "com1.log", "_com1.log"],
    ["superscript port numbers", "LPT\u00B9", "_LPT\u00B9"],
    ["trailing dots and spaces that Windows would drop", "report.pdf . . ", "report.pdf"],
    ["leading dots (hidden files)", "...bashrc", "bashrc"],
    ["an empty name", "\u202E\u0000 ", "attachment"],
    ["a name that only looks like a device name is kept", "console.log", "console.log"],
    ["an ordinary name is kept", "Tax return 2025 (final).pdf", "Tax return 2025 (final).pdf"],
    ["decomposed text is composed", "Cafe\u0301.txt", "Caf\u00E9.txt"],
  ])("%s", (_label, input, expected) => {
    expect(safeAttachmentName(input)).toBe(expected);
  });

  it("a long name is cut to 255 characters, keeping its extension", () => {
    const safe = safeAttachmentName(`${"x".repeat(400)}.pdf`);
    expect([...safe].length).toBe(255);
    expect(safe.endsWith(".pdf")).toBe(true);
  });
});
