/**
 * Starts the real servers the test suites need, once per run. Each server helper puts its
 * connection details into the environment so that test files (in forked workers) can find it.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const teardowns: Array<() => Promise<void>> = [];
  return async () => {
    for (const teardown of teardowns.reverse()) await teardown();
  };
}
