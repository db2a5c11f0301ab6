import { describe, expect, it } from "vitest";
import {
  normalizeSubject,
  subjectKeys,
  threadAccountIds,
  threadKeys,
  usesSubjectFallback,
  type ThreadingMessage,
} from "./threading.js";
import { newMailRecipients } from "./notifications.js";

function msg(id: string, overrides: Partial<ThreadingMessage> = {}): ThreadingMessage {
  return {
    id,
    messageId: `${id}@mail`,
    inReplyTo: [],
    references: [],
    providerThreads: [],
    subject: "Tax return 2025",
    date: new Date("2026-03-01T10:00:00Z"),
    externalParticipants: ["client@acme.com"],
    ...overrides,
  };
}

describe("subject normalisation", () => {
  // One case per language form of SPEC H2; each must reduce to the bare subject.
  const forms: Array<[form: string, subject: string]> = [
    ["English Re", "Re: Tax return"],
    ["English RE and re", "RE: re: Tax return"],
    ["English Fwd", "Fwd: Tax return"],
    ["English FW", "FW: Tax return"],
    ["German AW", "AW: Tax return"],
    ["German WG", "WG: Tax return"],
    ["Nordic SV", "SV: Tax return"],
    ["Nordic VS", "VS: Tax return"],
    ["Dutch Antw", "Antw: Tax return"],
    ["Dutch Doorst", "Doorst: Tax return"],
    ["French TR", "TR: Tax return"],
    ["French Réf", "Réf: Tax return"],
    ["French RÉF upper case", "RÉF : Tax return"],
    ["Spanish RV", "RV: Tax return"],
    ["Italian RIF", "RIF: Tax return"],
    ["Italian R", "R: R: Tax return"],
    ["Portuguese RES", "RES: Tax return"],
    ["Portuguese ENC", "ENC: Tax return"],
    ["Polish Odp", "Odp: Tax return"],
    ["Polish PD", "PD: Tax return"],
    ["Turkish YNT", "YNT: Tax return"],
    ["Turkish İLT (dotted capital I)", "İLT: Tax return"],
    ["Turkish ILT (dotless capital I)", "ILT: Tax return"],
    ["Turkish ilt lower case", "ilt: Tax return"],
    ["Greek ΑΠ", "ΑΠ: Tax return"],
    ["Greek Απ", "Απ: Tax return"],
    ["Greek ΣΧΕΤ", "ΣΧΕΤ: Tax return"],
    ["Russian Отв", "Отв: Tax return"],
    ["Russian Ответ", "Ответ: Tax return"],
    ["Russian Пересл", "Пересл: Tax return"],
    ["Hebrew תשובה", "תשובה: Tax return"],
    ["Arabic رد", "رد: Tax return"],
    ["Chinese 回复", "回复: Tax return"],
    ["Chinese 转发 with a full-width colon", "转发：Tax return"],
    ["Chinese 答复", "答复: Tax return"],
    ["Chinese 回覆", "回覆: Tax return"],
    ["Chinese 轉寄", "轉寄: Tax return"],
    ["Japanese 返信", "返信: Tax return"],
    ["Japanese 転送", "転送: Tax return"],
    ["Korean 답장", "답장: Tax return"],
    ["Korean 전달", "전달: Tax return"],
    ["full-width letters and colon", "ＲＥ：Tax return"],
    ["counter Re[2]", "Re[2]: Tax return"],
    ["counter RE (3)", "RE (3): Tax return"],
    ["counter RE(3)", "RE(3): Tax return"],
    ["counter Re^2", "Re^2: Tax return"],
    ["bracketed tag [EXTERNAL]", "[EXTERNAL] Re: Tax return"],
    ["list tag between prefixes", "Re: [client-list] Fwd: Tax return"],
    ["full-width bracketed tag", "【外部】Tax return"],
    ["stacked prefixes of several languages", "AW: Odp: İLT: 回复: Tax return"],
    ["spaces around the colon", "  re :   Tax   return  "],
    ["trailing (fwd)", "Tax return (fwd)"],
  ];
  it.each(forms)("H2: strips %s", (_form, subject) => {
    expect(normalizeSubject(subject)).toBe("tax return");
  });

  it("H2: case-folding treats dotted and dotless I alike, in prefixes and in the subject itself", () => {
    const key = normalizeSubject("KDV iadesi");
    for (const variant of ["KDV İADESİ", "KDV IADESI", "kdv ıadesı", "İLT: KDV İadesi"])
      expect(normalizeSubject(variant), variant).toBe(key);
    // Greek final sigma: a capitalised subject and its lower-case spelling compare equal.
    expect(normalizeSubject("ΦΠΑ ΕΤΟΥΣ")).toBe(normalizeSubject("φπα ετους"));
    expect(normalizeSubject("ΣΧΕΤ: ΦΟΡΟΣ")).toBe(normalizeSubject("φορος"));
  });

  it("H2: keeps words that only look like prefixes", () => {
    expect(normalizeSubject("Reminder: invoice")).toBe("reminder: invoice");
    expect(normalizeSubject("Return of goods")).toBe("return of goods");
    expect(normalizeSubject("Re")).toBe("re");
    expect(normalizeSubject("Résumé: draft")).toBe("résumé: draft");
  });
});

// The rules applied to messages (chains, conversations, the subject window, merges) are tested
// through the threader itself: packages/core/test/engine/store-threading.test.ts and
// threading-property.test.ts. These are the pure helpers it uses.
describe("threading keys", () => {
  it("H1: only In-Reply-To and References close a message to the subject rule; its conversation id does not", () => {
    expect(usesSubjectFallback(msg("a", { providerThreads: [{ mailboxId: "ann", threadId: "g1" }] }))).toBe(
      true,
    );
    expect(usesSubjectFallback(msg("b", { references: ["x@mail"] }))).toBe(false);
    expect(usesSubjectFallback(msg("c", { inReplyTo: ["x@mail"] }))).toBe(false);
  });

  it("H1: subjectKeys gives one key per (normalised subject, external participant), none for an empty subject", () => {
    const message = msg("a", {
      subject: "RE: Invoice",
      externalParticipants: ["jo@home.example", "ann@acme.example", "jo@home.example"],
    });
    expect(subjectKeys(message)).toEqual(["subj:invoice:jo@home.example", "subj:invoice:ann@acme.example"]);
    expect(subjectKeys(msg("b", { subject: "Re: [EXTERNAL]" }))).toEqual([]);
    expect(subjectKeys(msg("c", { externalParticipants: [] }))).toEqual([]);
    const long = subjectKeys(msg("d", { subject: "x".repeat(500) }));
    expect(long).toEqual([expect.stringMatching(/^subj#:[0-9a-f]{64}:client@acme\.com$/)]);
    expect(
      threadKeys(
        msg("e", {
          inReplyTo: ["p@mail"],
          references: ["q@mail", "p@mail"],
          providerThreads: [{ mailboxId: "m", threadId: "t" }],
        }),
      ),
    ).toEqual(["mid:e@mail", "mid:p@mail", "mid:q@mail", "pt:m:t"]);
  });

  it("H4: a thread shows under every account of its messages; muting silences it for that member only", () => {
    const filedIn = [{ accountIds: ["family-jo"] }, { accountIds: ["jo-bakery", "family-jo"] }];
    expect(threadAccountIds(filedIn)).toEqual(["family-jo", "jo-bakery"]);
    const team = [
      { id: "ann", newMailNotifications: "all" as const },
      { id: "bob", newMailNotifications: "all" as const },
    ];
    const muted = new Set(["ann:thread-1"]);
    const notified = newMailRecipients(
      { direction: "inbound", threadId: "thread-1", mailboxIds: [] },
      team,
      [],
      (m, t) => muted.has(`${m}:${t}`),
    );
    expect(notified).toEqual(["bob"]);
  });
});
