import { describe, expect, it } from "vitest";
import { UnknownShortcodeError } from "../errors.js";
import { compileTemplate, renderTemplate, shortcodeValues, withSignature } from "./templates.js";

const values = shortcodeValues({
  account: { name: "Smith & Sons <Ltd>" },
  contact: { firstName: "Jo", lastName: "Smith" },
  recipientEmail: "jo@smith.com",
  firm: { name: "Ledger LLP" },
  sender: { name: "Ann Lee", email: "ann@ledger.com" },
});

describe("templates", () => {
  it("S2: shortcodes resolve per account and recipient", () => {
    const template = compileTemplate(
      "Dear [CONTACT_FIRST_NAME], your account [ACCOUNT_NAME] at [FIRM_NAME]. — [SENDER_FIRST_NAME]",
    );
    expect(renderTemplate(template, values, "text")).toBe(
      "Dear Jo, your account Smith & Sons <Ltd> at Ledger LLP. — Ann",
    );
    const other = shortcodeValues({
      ...{
        account: { name: "Acme" },
        contact: { firstName: "Max", lastName: "" },
        recipientEmail: "m@a.com",
        firm: { name: "Ledger LLP" },
        sender: { name: "Ann Lee", email: "ann@ledger.com" },
      },
    });
    expect(renderTemplate(template, other, "text")).toBe("Dear Max, your account Acme at Ledger LLP. — Ann");
  });

  it("S2: unknown shortcodes are an error at compose time, listing every one", () => {
    let caught: unknown;
    try {
      compileTemplate("Hi [CONTACT_FIRST_NAME], [DUE_DATE] and [AMOUNT] and [DUE_DATE]", "subject");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UnknownShortcodeError);
    expect((caught as UnknownShortcodeError).shortcodes).toEqual(["DUE_DATE", "AMOUNT"]);
    expect((caught as UnknownShortcodeError).code).toBe("unknown_shortcode");
    expect((caught as Error).message).toContain("subject");
  });

  it("S2: values are HTML-escaped in HTML bodies and cannot break a subject line", () => {
    const template = compileTemplate("<p>[ACCOUNT_NAME]</p>");
    expect(renderTemplate(template, values, "html")).toBe("<p>Smith &#38; Sons &#60;Ltd&#62;</p>");
    const subject = compileTemplate("For [ACCOUNT_NAME]");
    expect(renderTemplate(subject, { ...values, ACCOUNT_NAME: "A\r\nBcc: x@y.com" }, "subject")).toBe(
      "For A Bcc: x@y.com",
    );
  });

  it("S3: the signature is appended only to mail sent through the SDK", () => {
    const body = { html: "<p>Hello</p>", text: "Hello" };
    const signature = "<b>Ann Lee</b><br>Ledger &amp; Co";
    expect(withSignature(body, signature, "sdk")).toEqual({
      html: '<p>Hello</p><div class="clientmail-signature"><b>Ann Lee</b><br>Ledger &amp; Co</div>',
      text: "Hello\n\n-- \nAnn Lee\nLedger & Co",
    });
    expect(withSignature(body, signature, "provider_client")).toBe(body);
    expect(withSignature(body, "  ", "sdk")).toBe(body);
  });
});
