/**
 * The app's configuration, read from environment variables (documented in `.env.example`) and
 * validated at start: each missing or bad value is reported by name with what was expected.
 */
import { z } from "zod";

const port = z.coerce.number().int().min(0).max(65_535);
const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === "" ? undefined : value))
  .optional();

/** The environment variables the app reads. */
export const configSchema = z
  .object({
    /** Where the app listens. */
    HOST: z.string().trim().min(1).default("127.0.0.1"),
    PORT: port.default(3000),
    /** The address users reach the app at (OAuth redirects and push endpoints are built from it). */
    PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
    /** PostgreSQL (store, job engine, sessions' users). Unset: the in-memory store and queue. */
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
    /** Signs the session cookie; at least 32 characters. Generated per run in demo mode. */
    SESSION_SECRET: z.string().min(32, "at least 32 characters").optional(),
    /**
     * The keyring that encrypts mailbox credentials: `id:base64url-key` pairs, comma separated, the
     * first being the current key (`node -e "..."` in `.env.example` makes one). Generated per run
     * in demo mode, where nothing outlives the process.
     */
    KEYRING_KEYS: z
      .string()
      .regex(
        /^[A-Za-z0-9_-]+:[A-Za-z0-9_-]{43}(,[A-Za-z0-9_-]+:[A-Za-z0-9_-]{43})*$/,
        "id:key pairs, comma separated",
      )
      .optional(),
    /** Documents (saved attachments) and message sources are kept under this folder. */
    DATA_DIR: z.string().trim().min(1).default(".data"),
    /**
     * `all`: the API, the UI and the workers in one process (default). `api`: no workers (run
     * `ROLE=worker` processes beside it). `worker`: workers only, no HTTP.
     */
    ROLE: z.enum(["all", "api", "worker"]).default("all"),
    /** `auto`: the demo firm when no DATABASE_URL is set. */
    DEMO: z.enum(["auto", "on", "off"]).default("auto"),
    /** Google OAuth client (Gmail mailboxes); both or neither. */
    GOOGLE_CLIENT_ID: optionalText,
    GOOGLE_CLIENT_SECRET: optionalText,
    /** Microsoft Entra app (Microsoft 365 mailboxes); id and secret both or neither. */
    MICROSOFT_CLIENT_ID: optionalText,
    MICROSOFT_CLIENT_SECRET: optionalText,
    MICROSOFT_TENANT: z.string().trim().min(1).default("common"),
    /** Gmail Pub/Sub push: the audience of the OIDC token Pub/Sub signs, and the service account it names. */
    GMAIL_PUSH_AUDIENCE: optionalText,
    GMAIL_PUSH_SERVICE_ACCOUNT: z.email().optional(),
    /**
     * Mail servers on private networks the app may connect to (R9), as CIDRs, comma separated,
     * e.g. `10.0.0.0/8`. Public addresses are always allowed; loopback only when listed here.
     */
    MAIL_HOSTS_ALLOW: z
      .string()
      .transform((value) =>
        value
          .split(",")
          .map((part) => part.trim())
          .filter(Boolean),
      )
      .default([]),
    LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  })
  .superRefine((env, ctx) => {
    for (const [id, secret] of [
      ["GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"],
      ["MICROSOFT_CLIENT_ID", "MICROSOFT_CLIENT_SECRET"],
    ] as const) {
      if ((env[id] === undefined) !== (env[secret] === undefined))
        ctx.addIssue({
          code: "custom",
          path: [env[id] ? secret : id],
          message: `set with ${env[id] ? id : secret}`,
        });
    }
  });

/** The validated configuration, plus what follows from it. */
export type AppConfig = z.output<typeof configSchema> & {
  /** Whether the demo firm, its in-process mail servers and its generated secrets are used. */
  demo: boolean;
  publicUrl: string;
};

/** Thrown by {@link loadConfig}: one line per bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`The app's configuration is not valid:\n${problems.map((line) => `  - ${line}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/**
 * Reads and validates the configuration. Outside demo mode, SESSION_SECRET and KEYRING_KEYS are
 * required: a generated one would log everybody out and make stored credentials unreadable on
 * the next start.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = issue.path.join(".") || "(environment)";
        const value = env[name];
        const shown =
          value === undefined
            ? "missing"
            : name.includes("SECRET") || name.includes("KEY") || name === "DATABASE_URL"
              ? "set"
              : JSON.stringify(value);
        return `${name} (${shown}): ${issue.message}`;
      }),
    );
  }
  const config = parsed.data;
  const demo = config.DEMO === "on" || (config.DEMO === "auto" && config.DATABASE_URL === undefined);
  // The demo's mail servers run in this process, on 127.0.0.1 (R9 refuses loopback otherwise).
  if (demo && !config.MAIL_HOSTS_ALLOW.includes("127.0.0.1/32"))
    config.MAIL_HOSTS_ALLOW = [...config.MAIL_HOSTS_ALLOW, "127.0.0.1/32"];
  const problems: string[] = [];
  if (!demo) {
    if (!config.SESSION_SECRET)
      problems.push("SESSION_SECRET (missing): required outside demo mode, at least 32 characters");
    if (!config.KEYRING_KEYS)
      problems.push("KEYRING_KEYS (missing): required outside demo mode, id:key pairs");
  }
  if (config.ROLE !== "all" && !config.DATABASE_URL)
    problems.push(
      `ROLE (${JSON.stringify(config.ROLE)}): separate API and worker processes share work through PostgreSQL; set DATABASE_URL`,
    );
  if (problems.length > 0) throw new ConfigError(problems);
  const publicUrl = (
    config.PUBLIC_URL ??
    `http://${config.HOST.includes(":") ? `[${config.HOST}]` : config.HOST}:${config.PORT}`
  ).replace(/\/$/, "");
  return { ...config, demo, publicUrl };
}
