/**
 * What the sending fault suite's parent and its worker child (`sending-worker.ts`) say to each
 * other: the worker's configuration (one JSON value in an environment variable) and the JSON
 * lines it writes to stdout. Plain data only.
 */
import type { AfterCrashPolicy } from "@clientmail/core";

/** Where the worker kills itself. */
export type SendingKillPoint = "claim" | "sent";

/** The worker's configuration. */
export interface SendingWorkerConfig {
  databaseUrl: string;
  firmId: string;
  imap: { host: string; port: number; user: string; password: string };
  smtp: { host: string; port: number };
  /** Kill this process the `n`-th time it reaches `point`. */
  crash?: { point: SendingKillPoint; n: number } | undefined;
  afterCrash: AfterCrashPolicy;
  /** How long a killed worker's running job stays locked. */
  lockTimeoutMs: number;
}

/** The lines the worker writes. */
export type SendingWorkerLine =
  { t: "crash"; point: SendingKillPoint; n: number } | { t: "done" } | { t: "fatal"; message: string };

export const sendingWorkerVariable = "CLIENTMAIL_SENDING_FAULT_WORKER";
