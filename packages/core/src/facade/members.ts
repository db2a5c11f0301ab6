/**
 * A team member's notification settings (N1): how they hear about new client mail, and the time
 * zone their notices and digests are timed in.
 */
import { z } from "zod";
import { NotFoundError } from "../errors.js";
import type { FirmId, MemberId, TeamMember } from "../domain/model.js";
import { parseInput, singleLineText } from "../domain/schemas.js";
import { checkIds, definedOnly, type FacadeContext } from "./context.js";

function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/** What {@link updateMemberNotifications} takes; at least one field. */
export const memberNotificationsSchema = z
  .strictObject({
    /** N1: every new client message, those of the member's own mailboxes, or none. */
    newMailNotifications: z.enum(["all", "my_mailboxes", "none"]).optional(),
    /** An IANA time zone, e.g. `Europe/Paris`. */
    timeZone: singleLineText()
      .max(100)
      .refine(isTimeZone, "an IANA time zone such as Europe/Paris")
      .optional(),
  })
  .refine((patch) => patch.newMailNotifications !== undefined || patch.timeZone !== undefined, {
    message: "at least one of newMailNotifications, timeZone",
  });
export type MemberNotificationsInput = z.input<typeof memberNotificationsSchema>;

/** N1: changes a member's notification settings. Throws `not_found` for an unknown member. */
export async function updateMemberNotifications(
  ctx: FacadeContext,
  firmId: FirmId,
  memberId: MemberId,
  input: MemberNotificationsInput,
): Promise<TeamMember> {
  checkIds({ firmId, memberId });
  const patch = parseInput(memberNotificationsSchema, input);
  const member = await ctx.store.transaction(async (tx) => {
    if (!(await tx.getMember(firmId, memberId))) throw new NotFoundError("Team member", memberId);
    return tx.updateMember(firmId, memberId, definedOnly(patch));
  });
  ctx.emit("member.updated", { firmId, member });
  return member;
}
