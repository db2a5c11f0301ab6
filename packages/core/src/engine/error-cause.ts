/**
 * The log-safe cause of a failure: what retry logs and a mailbox's `retrying` state carry next to
 * the code, so an operator sees why ("The mail server's name could not be resolved") rather than
 * only `transient`. clientmail's own messages are fixed texts naming no secret; a foreign error
 * contributes only its name and its system code (e.g. `ECONNREFUSED`), never its text, which may
 * echo a server's answer or a URL with a token in it.
 */
import { ClientMailError } from "../errors.js";

const maxLength = 300;

function systemCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && /^E[A-Z0-9_]{2,40}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A short, log-safe sentence saying why `error` happened. */
export function safeCause(error: unknown): string {
  let text: string;
  if (ClientMailError.isInstance(error)) {
    text = error.message;
    const native = systemCode(error.cause);
    if (native !== undefined && !text.includes(native)) text += ` (${native})`;
  } else if (error instanceof Error) {
    const native = systemCode(error);
    text = native === undefined ? error.name : `${error.name} (${native})`;
  } else text = "unknown failure";
  // eslint-disable-next-line no-control-regex -- control characters never reach a log line
  return text.replace(/[\u0000-\u001f\u007f]+/g, " ").slice(0, maxLength);
}
