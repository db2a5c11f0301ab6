/** The time source. Tests pass a controllable clock; production uses {@link systemClock}. */
export interface Clock {
  now(): Date;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => new Date() };
