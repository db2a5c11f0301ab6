/**
 * The compose form's templates: a subject and a text with shortcodes (S2), resolved by the SDK
 * per account and recipient when the message is queued. A host product would keep its firm's own
 * templates; these few show the mechanism.
 */
export interface MailTemplate {
  id: string;
  label: string;
  subject: string;
  text: string;
}

export const mailTemplates: readonly MailTemplate[] = [
  { id: "blank", label: "Blank", subject: "", text: "" },
  {
    id: "documents",
    label: "Documents needed",
    subject: "Documents needed for [ACCOUNT_NAME]",
    text: "Dear [CONTACT_FIRST_NAME],\n\nTo prepare this year's return we still need your bank statements and last year's assessment. You can reply to this email with them attached.\n\nKind regards,\n[SENDER_NAME]\n[FIRM_NAME]",
  },
  {
    id: "return-ready",
    label: "Tax return ready",
    subject: "Your tax return is ready, [CONTACT_FIRST_NAME]",
    text: "Dear [CONTACT_FIRST_NAME],\n\nThe tax return of [ACCOUNT_NAME] is ready for your review and signature.\n\nKind regards,\n[SENDER_NAME]\n[FIRM_NAME]",
  },
];

/** The template with this id, or the blank one. */
export function mailTemplate(id: unknown): MailTemplate {
  return mailTemplates.find((t) => t.id === id) ?? mailTemplates[0]!;
}
