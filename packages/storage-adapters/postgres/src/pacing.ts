/**
 * `createPostgresPacing`: the Pacing port shared by every worker process on one database, so N
 * processes together keep one Gmail user's quota and one Graph mailbox's 4 concurrent requests.
 *
 * Each decision is one short transaction under a transaction-scoped advisory lock on (firm, key):
 * expired spends and slots are pruned, what is in use is summed, and the take is recorded when it
 * fits, timed by the database's clock so workers' clocks never matter. A rate take that does not
 * fit sleeps until enough units leave the window; a slot that is not free is asked for again after
 * `pollMs` (with jitter), since slots come back by release or expiry and nobody is told. The
 * tables are UNLOGGED: after a database crash they start empty, which only lets work go sooner.
 */
import type { Pool, PoolClient } from "pg";
import {
  checkPacingAcquire,
  checkPacingTake,
  checkPacingTryAcquire,
  pacingSleep,
} from "@clientmail/core/ports";
import type { Pacing, PacingSlot, RateBudget } from "@clientmail/core/ports";

/** Settings of {@link createPostgresPacing}. */
export interface PostgresPacingSettings {
  /** The caller's pool; each decision borrows a connection for one short transaction. */
  pool: Pool;
  /** How long a waiting `acquire` sleeps before asking again. Default 25 ms (plus up to 50% jitter). */
  pollMs?: number | undefined;
  /** How to wait. Must reject when `signal` aborts. */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
}

class PostgresPacing implements Pacing {
  private readonly pollMs: number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(private readonly settings: PostgresPacingSettings) {
    this.pollMs = settings.pollMs ?? 25;
    this.sleep = settings.sleep ?? pacingSleep;
  }

  /** Runs `fn` in a transaction holding the (firm, key) lock, with the firm set for row-level security. */
  private async locked<T>(firmId: string, key: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.settings.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(
        "SELECT set_config('app.firm_id', $1, true), pg_advisory_xact_lock(hashtextextended($1 || chr(1) || $2, 7))",
        [firmId, key],
      );
      const result = await fn(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async take(
    firmId: string,
    key: string,
    units: number,
    budget: RateBudget,
    signal?: AbortSignal,
  ): Promise<void> {
    checkPacingTake({ firmId, key, units, budget });
    const wanted = Math.min(units, budget.units);
    for (;;) {
      signal?.throwIfAborted();
      const waitMs = await this.locked(firmId, key, async (client) => {
        const { rows } = await client.query<{ at: number; units: number; now: number }>(
          `WITH pruned AS (
             DELETE FROM pacing_spends
              WHERE firm_id = $1 AND key = $2 AND at <= clock_timestamp() - $3 * interval '1 millisecond')
           SELECT extract(epoch FROM at) * 1000 AS at, units, extract(epoch FROM clock_timestamp()) * 1000 AS now
             FROM pacing_spends
            WHERE firm_id = $1 AND key = $2 AND at > clock_timestamp() - $3 * interval '1 millisecond'
            ORDER BY at`,
          [firmId, key, budget.windowMs],
        );
        let used = rows.reduce((sum, row) => sum + row.units, 0);
        if (used + wanted <= budget.units) {
          await client.query(
            "INSERT INTO pacing_spends (firm_id, key, at, units) VALUES ($1, $2, clock_timestamp(), $3)",
            [firmId, key, units],
          );
          return 0;
        }
        const now = Number(rows[0]!.now);
        let until = now;
        for (const row of rows) {
          used -= row.units;
          until = Number(row.at) + budget.windowMs;
          if (used + wanted <= budget.units) break;
        }
        return Math.max(1, until - now + 1);
      });
      if (waitMs === 0) return;
      await this.sleep(waitMs, signal);
    }
  }

  async acquire(
    firmId: string,
    key: string,
    weight: number,
    options: { capacity: number; ttlMs: number },
    signal?: AbortSignal,
  ): Promise<PacingSlot> {
    checkPacingAcquire({ firmId, key, weight, options });
    const units = Math.min(weight, options.capacity);
    for (;;) {
      signal?.throwIfAborted();
      const slot = await this.hold(firmId, key, units, options.capacity, options.ttlMs);
      if (slot) return slot;
      await this.sleep(this.pollMs * (1 + Math.random() / 2), signal);
    }
  }

  async tryAcquire(firmId: string, key: string, ttlMs: number): Promise<PacingSlot | undefined> {
    checkPacingTryAcquire({ firmId, key, ttlMs });
    return this.hold(firmId, key, 1, 1, ttlMs);
  }

  private async hold(
    firmId: string,
    key: string,
    weight: number,
    capacity: number,
    ttlMs: number,
  ): Promise<PacingSlot | undefined> {
    const slotId = globalThis.crypto.randomUUID();
    const held = await this.locked(firmId, key, async (client) => {
      const { rows } = await client.query<{ used: string }>(
        `WITH pruned AS (
           DELETE FROM pacing_slots WHERE firm_id = $1 AND key = $2 AND expires_at <= clock_timestamp())
         SELECT coalesce(sum(weight), 0) AS used FROM pacing_slots
          WHERE firm_id = $1 AND key = $2 AND expires_at > clock_timestamp()`,
        [firmId, key],
      );
      if (Number(rows[0]!.used) + weight > capacity) return false;
      await client.query(
        `INSERT INTO pacing_slots (firm_id, key, slot_id, weight, expires_at)
         VALUES ($1, $2, $3, $4, clock_timestamp() + $5 * interval '1 millisecond')`,
        [firmId, key, slotId, weight, ttlMs],
      );
      return true;
    });
    if (!held) return undefined;
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        await this.locked(firmId, key, (client) =>
          client.query("DELETE FROM pacing_slots WHERE firm_id = $1 AND key = $2 AND slot_id = $3", [
            firmId,
            key,
            slotId,
          ]),
        );
      },
      renew: async () => {
        if (released) return false;
        const { rowCount } = await this.locked(firmId, key, (client) =>
          client.query(
            `UPDATE pacing_slots SET expires_at = clock_timestamp() + $4 * interval '1 millisecond'
              WHERE firm_id = $1 AND key = $2 AND slot_id = $3 AND expires_at > clock_timestamp()`,
            [firmId, key, slotId, ttlMs],
          ),
        );
        return (rowCount ?? 0) > 0;
      },
    };
  }
}

/** Creates the Pacing shared by every process on the pool's database (see the Pacing port). */
export function createPostgresPacing(settings: PostgresPacingSettings): Pacing {
  return new PostgresPacing(settings);
}
