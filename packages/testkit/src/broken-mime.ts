/**
 * A corpus of broken MIME (R11), written for clientmail: each message is broken the way real mail
 * programs, gateways and scripts break it — a multipart without its boundary, with a truncated or a
 * wrong one, no blank line after the header, part headers running into the part body, a type
 * without subtype, a top-level `message/rfc822`, raw 8-bit text, parts in different charsets, a
 * charset nobody knows, HTML only. Each case says which words a tolerant reader shows, and whether the
 * parse had to fall back (the message is then flagged `degraded`).
 *
 * Providers run it to prove that no text is lost silently and that IMAP, Gmail and Graph give
 * the same text for the same bytes.
 */

/** One message of the corpus. */
export interface BrokenMimeCase {
  /** Short name, also the local part of the Message-ID. */
  name: string;
  /** What is broken, in words. */
  broken: string;
  /** The message, byte for byte (CRLF line ends). */
  raw: Buffer;
  /** Phrases the text must contain. */
  expectText: string[];
  /** Phrases the text must not contain (MIME scaffolding that is not content). */
  rejectText?: string[] | undefined;
  /** True when the text can only be read by the tolerant fallback. */
  degraded: boolean;
  /** File names of the attachments a tolerant reader finds, in order. */
  attachments?: string[] | undefined;
}

/** The owner of the mailbox the corpus is delivered to in tests. */
export const brokenMimeRecipient = "ann@firm.example";
/** The client the corpus comes from. */
export const brokenMimeSender = "jo@client.example";

function header(name: string, extra: string): string {
  return (
    `From: Jo Jordan <${brokenMimeSender}>\r\nTo: Ann <${brokenMimeRecipient}>\r\n` +
    `Subject: Broken ${name}\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n` +
    `Message-ID: <${name}@client.example>\r\n${extra}`
  );
}

function bytes(...parts: Array<string | Buffer>): Buffer {
  return Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part, "utf8") : part)));
}

const pdf = Buffer.from("%PDF-1.4 quarterly figures\n%%EOF\n").toString("base64");

/** The corpus. */
export const brokenMimeCorpus: readonly BrokenMimeCase[] = [
  {
    name: "missing-boundary",
    broken: "multipart/mixed without a boundary parameter",
    raw: bytes(
      header("missing-boundary", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n"),
      "--frontier\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
      "The signed engagement letter is attached.\r\n",
      "--frontier\r\nContent-Type: application/pdf; name=letter.pdf\r\n",
      "Content-Disposition: attachment; filename=letter.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n",
      `${pdf}\r\n--frontier--\r\n`,
    ),
    expectText: ["The signed engagement letter is attached."],
    rejectText: ["--frontier", "Content-Type", pdf],
    degraded: true,
    attachments: ["letter.pdf"],
  },
  {
    name: "wrong-boundary",
    broken: "the boundary in the header is not the one the body uses",
    raw: bytes(
      header(
        "wrong-boundary",
        'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="=_declared_1"\r\n\r\n',
      ),
      "This is a multi-part message in MIME format.\r\n\r\n",
      "--=_actual_2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
      "Please find the payroll figures for March below.\r\n",
      "--=_actual_2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n",
      "<p>Please find the payroll figures for March below.</p>\r\n",
      "--=_actual_2--\r\n",
    ),
    expectText: ["Please find the payroll figures for March below."],
    rejectText: ["--=_actual_2", "<p>"],
    degraded: true,
  },
  {
    name: "truncated-boundary",
    broken: "the boundary lines are cut short of the declared boundary",
    raw: bytes(
      header(
        "truncated-boundary",
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="----=_Part_4711_1234567890.1700000000000"\r\n\r\n',
      ),
      "------=_Part_4711_12345\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
      "Our VAT return for Q1 is ready for review.\r\n",
      "------=_Part_4711_12345--\r\n",
    ),
    expectText: ["Our VAT return for Q1 is ready for review."],
    rejectText: ["_Part_4711"],
    degraded: true,
  },
  {
    name: "unterminated-multipart",
    broken: "the message ends inside its last part, without a closing boundary",
    raw: bytes(
      header(
        "unterminated-multipart",
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b7"\r\n\r\n',
      ),
      "--b7\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
      "The balance sheet draft follows; the rest was cut off in transit.\r\n",
    ),
    expectText: ["The balance sheet draft follows; the rest was cut off in transit."],
    degraded: false,
  },
  {
    name: "no-separator",
    broken: "no blank line between the header and the body",
    raw: bytes(
      header("no-separator", "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"),
      "Hello Ann,\r\nthe receipts are in the shared folder.\r\nJo\r\n",
    ),
    expectText: ["Hello Ann,", "the receipts are in the shared folder.", "Jo"],
    degraded: true,
  },
  {
    name: "part-headers-run-on",
    broken: "a part's headers run straight into its body",
    raw: bytes(
      header(
        "part-headers-run-on",
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="rb"\r\n\r\n',
      ),
      "--rb\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n",
      "Dear Ann, the annual report needs your signature by Friday.\r\n",
      "--rb\r\nContent-Type: application/pdf; name=report.pdf\r\nContent-Transfer-Encoding: base64\r\n",
      "Content-Disposition: attachment; filename=report.pdf\r\n\r\n",
      `${pdf}\r\n--rb--\r\n`,
    ),
    expectText: ["Dear Ann, the annual report needs your signature by Friday."],
    rejectText: ["Content-Transfer-Encoding"],
    degraded: true,
    attachments: ["report.pdf"],
  },
  {
    name: "type-without-subtype",
    broken: "Content-Type: text, with no subtype",
    raw: bytes(
      header("type-without-subtype", "MIME-Version: 1.0\r\nContent-Type: text; charset=utf-8\r\n\r\n"),
      "Could we move the audit meeting to Thursday?\r\n",
    ),
    expectText: ["Could we move the audit meeting to Thursday?"],
    degraded: false,
    attachments: [],
  },
  {
    name: "top-level-rfc822",
    broken: "the whole message is a message/rfc822 wrapper around the real one",
    raw: bytes(
      header("top-level-rfc822", "MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"),
      `From: Jo Jordan <${brokenMimeSender}>\r\nTo: ${brokenMimeRecipient}\r\nSubject: Forwarded invoice\r\n`,
      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
      "Forwarding the supplier invoice we discussed.\r\n",
    ),
    expectText: ["Forwarding the supplier invoice we discussed."],
    degraded: false,
    attachments: [],
  },
  {
    name: "raw-8bit",
    broken: "8-bit text with no charset declared, in ISO-8859-1 bytes",
    raw: bytes(
      header(
        "raw-8bit",
        "MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
      ),
      Buffer.from("Le bilan de l'année est prêt, à signer.\r\n", "latin1"),
    ),
    expectText: ["Le bilan de l'année est prêt, à signer."],
    degraded: true,
  },
  {
    name: "mixed-charsets",
    broken: "parts in three charsets, one of them 8-bit",
    raw: bytes(
      header("mixed-charsets", 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="mc"\r\n\r\n'),
      "--mc\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
      Buffer.from("Grüße aus Köln.\r\n", "latin1"),
      "--mc\r\nContent-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
      Buffer.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4, 0x0d, 0x0a]),
      "--mc\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
      "Cordialement, Zo=C3=A9\r\n",
      "--mc--\r\n",
    ),
    expectText: ["Grüße aus Köln.", "Привет", "Cordialement, Zoé"],
    degraded: false,
  },
  {
    name: "unknown-charset",
    broken: "a charset no decoder knows, with UTF-8 bytes",
    raw: bytes(
      header(
        "unknown-charset",
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-clientmail-unknown\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
      ),
      Buffer.from("Reçu: 1 250,00 € pour la déclaration.\r\n", "utf8"),
    ),
    expectText: ["Reçu: 1 250,00 € pour la déclaration."],
    degraded: true,
  },
  {
    name: "unknown-charset-latin",
    broken: "a charset no decoder knows, with Windows-1252 bytes",
    raw: bytes(
      header(
        "unknown-charset-latin",
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-mac-unheard-of\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
      ),
      // "Facture n° 12 : 1 250,00 € reçus." in Windows-1252 (0x80 is the euro sign).
      Buffer.concat([
        Buffer.from("Facture n\u00b0 12 : 1 250,00 ", "latin1"),
        Buffer.from([0x80]),
        Buffer.from(" re\u00e7us.\r\n", "latin1"),
      ]),
    ),
    expectText: ["Facture n° 12 : 1 250,00 € reçus."],
    degraded: true,
  },
  {
    name: "html-only",
    broken: "nothing broken, but no text part: the text must come from the HTML, the same way everywhere",
    raw: bytes(
      header("html-only", "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"),
      "<html><body><p>Dear Ann,</p><p>the <b>VAT return</b> is ready&nbsp;to sign.</p></body></html>\r\n",
    ),
    expectText: ["Dear Ann,", "the VAT return is ready"],
    rejectText: ["<p>", "<b>"],
    degraded: false,
    attachments: [],
  },
  {
    name: "cut-off-attachment",
    broken: "the message ends in the middle of a base64 attachment",
    raw: bytes(
      header(
        "cut-off-attachment",
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="co"\r\n\r\n',
      ),
      "--co\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
      "The scanned contracts are attached.\r\n",
      "--co\r\nContent-Type: application/pdf; name=contracts.pdf\r\n",
      "Content-Disposition: attachment; filename=contracts.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n",
      `${pdf}\r\n${pdf.slice(0, 21)}`,
    ),
    expectText: ["The scanned contracts are attached."],
    degraded: true,
    attachments: [],
  },
];
