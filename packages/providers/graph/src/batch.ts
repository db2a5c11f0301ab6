/**
 * GETs of many messages through `$batch` (at most 20 per request). Items Graph throttled or
 * failed with 5xx are retried, the others only, after the longest Retry-After any of them asked
 * for; items that are gone (404) are absent from the result; 401/403 concern the mailbox's grant
 * and are thrown. Any other per-item failure — a 4xx, or a 5xx Exchange gives for one message it
 * cannot convert (see `errors.ts`) — concerns that message alone and is reported apart.
 */
import { retry } from "@clientmail/provider-utils";
import { isPerMessageFailure, retryAfterMs, translateGraphFailure, type GraphFailure } from "./errors.js";
import type { GraphMessage } from "./envelope.js";
import type { GraphHttp } from "./http.js";
import type { ResolvedGraphSettings } from "./settings.js";

/** Graph's limit of requests in one `$batch`. */
export const BATCH_LIMIT = 20;

interface BatchResponse {
  responses?: { id: string; status: number; headers?: Record<string, string>; body?: unknown }[];
}

/** What a batch of GETs found. */
export interface BatchResult {
  found: Map<string, GraphMessage>;
  /** Ids Graph refused on their own, with the failure. */
  refused: Map<string, GraphFailure>;
}

/** What batching needs. */
export interface BatchContext {
  http: GraphHttp;
  settings: Pick<ResolvedGraphSettings, "retry" | "sleep" | "random" | "clock" | "logger">;
}

/** GETs `urlOf(id)` for each id (at most {@link BATCH_LIMIT}) through one `$batch` per round. */
export async function batchGet(
  context: BatchContext,
  ids: readonly string[],
  urlOf: (id: string) => string,
  signal: AbortSignal | undefined,
): Promise<BatchResult> {
  const { http, settings } = context;
  const result: BatchResult = { found: new Map(), refused: new Map() };
  let pending = [...ids];
  await retry(
    async () => {
      const { body } = await http.send<BatchResponse>({
        method: "POST",
        url: "/$batch",
        body: {
          requests: pending.map((id, index) => ({
            id: String(index),
            method: "GET",
            url: urlOf(id),
            headers: { Prefer: 'IdType="ImmutableId"' },
          })),
        },
        weight: 4,
        signal,
      });
      const again: string[] = [];
      let worst: GraphFailure | undefined;
      for (const response of body.responses ?? []) {
        const id = pending[Number(response.id)];
        if (id === undefined) continue;
        if (response.status >= 200 && response.status < 300) {
          result.found.set(id, response.body as GraphMessage);
          continue;
        }
        if (response.status === 404) continue;
        const failure: GraphFailure = {
          status: response.status,
          body: response.body,
          retryAfterMs: retryAfterMs(new Headers(response.headers ?? {}), settings.clock.now()),
        };
        if (response.status === 401 || response.status === 403) throw translateGraphFailure(failure);
        if (!isPerMessageFailure(failure) && (response.status === 429 || response.status >= 500)) {
          again.push(id);
          if (!worst || (failure.retryAfterMs ?? 0) > (worst.retryAfterMs ?? 0)) worst = failure;
          continue;
        }
        result.refused.set(id, failure);
      }
      pending = again;
      if (!worst) return;
      settings.logger.debug("graph: retrying throttled batch items", { count: again.length });
      throw translateGraphFailure(worst, { pending: again.length });
    },
    { policy: settings.retry, sleep: settings.sleep, random: settings.random, signal },
  );
  return result;
}
