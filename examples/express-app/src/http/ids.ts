/**
 * Ids taken from a route's path or query: validated as the SDK validates ids (non-empty, at most
 * 200 characters, no control characters), so a bad one answers 400 naming the parameter before
 * any SDK call is made.
 */
import type { Request } from "express";
import { z } from "zod";
import { idSchema } from "@clientmail/core";
import { parse } from "./validate.js";

/** The route parameter `name`, validated as an id. */
export function idParam(req: Request, name: string): string {
  return parse(z.object({ [name]: idSchema }), req.params)[name] as string;
}
