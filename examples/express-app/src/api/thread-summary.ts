/**
 * Threads in a listing, without their bodies: a listing never carries a message's stored HTML
 * (which is shown only sanitised, through the thread and message reads) — only who wrote to
 * whom, when, the subject, a short plain-text preview and how many attachments.
 */
import type { ThreadView } from "@clientmail/core/ports";

const previewLength = 160;

/** A message as a listing shows it. */
export interface MessageSummary {
  id: string;
  direction: "inbound" | "outbound";
  from: { address: string; name?: string | undefined }[];
  to: { address: string; name?: string | undefined }[];
  cc: { address: string; name?: string | undefined }[];
  subject: string;
  date: Date;
  attachments: number;
  degraded: boolean;
}

/** A thread as a listing shows it. */
export interface ThreadSummary {
  threadId: string;
  lastActivityAt: Date;
  subject: string;
  messageCount: number;
  /** The start of the newest message's text, whitespace collapsed. */
  preview: string;
  messages: MessageSummary[];
}

/** The listing form of a thread. */
export function threadSummary(thread: ThreadView): ThreadSummary {
  const messages = thread.messages;
  const newest = messages[messages.length - 1];
  return {
    threadId: thread.threadId,
    lastActivityAt: thread.lastActivityAt,
    subject: messages[0]?.subject ?? "",
    messageCount: messages.length,
    preview: (newest?.text ?? "").replace(/\s+/g, " ").trim().slice(0, previewLength),
    messages: messages.map((m) => ({
      id: m.id,
      direction: m.direction,
      from: m.from,
      to: m.to,
      cc: m.cc,
      subject: m.subject,
      date: m.date,
      attachments: m.attachments.length,
      degraded: m.degraded,
    })),
  };
}
