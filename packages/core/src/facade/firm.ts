/**
 * A firm's own settings after it was created: its name, the domains it declares as its own (F2)
 * and what happens to mail its mailboxes delete (F8). New internal domains apply to mail synced
 * from then on; mail already filed stays filed.
 */
import { z } from "zod";
import { NotFoundError } from "../errors.js";
import type { Firm, FirmId } from "../domain/model.js";
import { firmInputSchema, nameSchema, parseInput } from "../domain/schemas.js";
import { checkIds, definedOnly, type FacadeContext } from "./context.js";

/** What {@link updateFirm} takes; at least one field. */
export const firmPatchSchema = z
  .strictObject({
    name: nameSchema.optional(),
    internalDomains: firmInputSchema.shape.internalDomains.unwrap().max(100).optional(),
    deletionMode: z.enum(["mirror", "retain"]).optional(),
  })
  .refine((patch) => Object.values(patch).some((value) => value !== undefined), {
    message: "at least one of name, internalDomains, deletionMode",
  });
export type FirmPatchInput = z.input<typeof firmPatchSchema>;

/** Changes a firm's settings. Throws `not_found` for an unknown firm, `validation_failed` for bad input. */
export async function updateFirm(ctx: FacadeContext, firmId: FirmId, input: FirmPatchInput): Promise<Firm> {
  checkIds({ firmId });
  const patch = parseInput(firmPatchSchema, input);
  return ctx.store.transaction(async (tx) => {
    if (!(await tx.getFirm(firmId))) throw new NotFoundError("Firm", firmId);
    return tx.updateFirm(firmId, definedOnly(patch));
  });
}
