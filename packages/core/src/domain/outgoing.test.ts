import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { nextWeeklyDigestAt } from "./outgoing.js";

describe("weekly digest time", () => {
  it("T5: the weekly digest is due Monday 09:00 in the recipient's time zone, across daylight-saving changes", () => {
    // Wednesday 2026-03-25 in Berlin (UTC+1); Monday 2026-03-30 is after the switch to UTC+2.
    expect(nextWeeklyDigestAt(new Date("2026-03-25T12:00:00Z"), "Europe/Berlin").toISOString()).toBe(
      "2026-03-30T07:00:00.000Z",
    );
    expect(nextWeeklyDigestAt(new Date("2026-03-25T12:00:00Z"), "America/New_York").toISOString()).toBe(
      "2026-03-30T13:00:00.000Z",
    );
    // Monday 08:59 local: today; 09:00 sharp: next week.
    expect(nextWeeklyDigestAt(new Date("2026-03-30T06:59:00Z"), "Europe/Berlin").toISOString()).toBe(
      "2026-03-30T07:00:00.000Z",
    );
    expect(nextWeeklyDigestAt(new Date("2026-03-30T07:00:00Z"), "Europe/Berlin").toISOString()).toBe(
      "2026-04-06T07:00:00.000Z",
    );
    // Monday 09:00 in Tokyo is still Sunday in UTC.
    expect(nextWeeklyDigestAt(new Date("2026-03-28T00:00:00Z"), "Asia/Tokyo").toISOString()).toBe(
      "2026-03-30T00:00:00.000Z",
    );
  });

  it("T5: an unknown time zone is refused", () => {
    expect(() => nextWeeklyDigestAt(new Date(), "Mars/Olympus")).toThrow(ValidationError);
  });
});
