/**
 * Insecure transport is an explicit, logged choice (R9). Cleartext to anything but the local
 * machine, and TLS without certificate checks, are refused in the settings unless the host sets
 * `allowInsecure: true`; when it does, every connection that uses the opt-in logs one warning.
 * STARTTLS is never opportunistic: a server that does not offer it fails the connection.
 */
import { ConnectionError, type ValidationIssue } from "@clientmail/core";
import type { Logger } from "@clientmail/core/ports";
import { classifyAddress } from "./address-ranges.js";
import { parseHost, type VettedDestination } from "./host-policy.js";

/**
 * How a mail connection is secured: `tls` from the first byte, `starttls` (upgrade, or fail), or
 * `none` (cleartext: loopback only, unless the host allows insecure transport).
 */
export type TransportSecurity = "tls" | "starttls" | "none";

/** What an insecure connection gives up. */
export type InsecureAspect = "cleartext" | "unverified_certificate";

/** The transport settings of one provider. */
export interface TransportSecuritySettings {
  host: string;
  security: TransportSecurity;
  rejectUnauthorized: boolean | undefined;
  allowInsecure: boolean;
}

/** Whether a host setting names the local machine: a loopback IP literal, or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const parsed = parseHost(host);
  if (parsed === undefined) return false;
  if (parsed.kind === "name") return parsed.name === "localhost" || parsed.name.endsWith(".localhost");
  return classifyAddress(parsed.address).kind === "loopback";
}

/**
 * Adds an issue for each insecure setting the host did not opt into: `security: "none"` to a host
 * that is not loopback, and `tls.rejectUnauthorized: false`. Also checks `allowInsecure` is a
 * boolean.
 */
export function checkTransportSecurity(
  settings: { host: unknown; security: unknown; rejectUnauthorized: unknown; allowInsecure: unknown },
  issues: ValidationIssue[],
): void {
  const { allowInsecure, rejectUnauthorized } = settings;
  if (allowInsecure !== undefined && typeof allowInsecure !== "boolean") {
    issues.push({ field: "allowInsecure", value: allowInsecure, expected: "true or false" });
  }
  if (rejectUnauthorized !== undefined && typeof rejectUnauthorized !== "boolean") {
    issues.push({ field: "tls.rejectUnauthorized", value: rejectUnauthorized, expected: "true or false" });
  }
  if (allowInsecure === true) return;
  if (
    settings.security === "none" &&
    typeof settings.host === "string" &&
    settings.host.trim() !== "" &&
    !isLoopbackHost(settings.host)
  ) {
    issues.push({
      field: "security",
      value: "none",
      expected:
        '"tls" or "starttls": cleartext goes only to a loopback host unless allowInsecure: true is set (and logged)',
    });
  }
  if (rejectUnauthorized === false) {
    issues.push({
      field: "tls.rejectUnauthorized",
      value: false,
      expected: "true (the default): unverified certificates need allowInsecure: true (and are logged)",
    });
  }
}

/**
 * Checks one connection about to be opened to `destination`, after the host policy allowed it:
 * cleartext without the opt-in must go to a loopback address (`localhost` may resolve elsewhere),
 * else `host_refused`. Returns what the connection gives up, and logs one warning when that is
 * anything (the opt-in in use), with the host and port but nothing secret.
 */
export function checkConnectionSecurity(
  settings: TransportSecuritySettings,
  destination: VettedDestination,
  context: { provider: string; logger?: Logger | undefined },
): InsecureAspect[] {
  const aspects: InsecureAspect[] = [];
  if (settings.security === "none" && !destination.loopback) {
    if (!settings.allowInsecure) {
      throw new ConnectionError("host_refused", {
        details: {
          provider: context.provider,
          host: destination.host,
          port: destination.port,
          refused: "cleartext",
        },
      });
    }
    aspects.push("cleartext");
  }
  if (settings.security !== "none" && settings.rejectUnauthorized === false)
    aspects.push("unverified_certificate");
  if (aspects.length > 0) {
    context.logger?.warn(`${context.provider} connection is not secure (allowed by allowInsecure)`, {
      provider: context.provider,
      host: destination.host,
      port: destination.port,
      insecure: aspects,
    });
  }
  return aspects;
}

/**
 * Checks URL settings of an HTTP provider (Gmail's and Graph's API roots): `https://`, or
 * `http://` only when the host set `allowInsecure: true` (a loopback fake in a test). Adds an
 * issue naming each bad field and returns the fields that use the opt-in, for
 * {@link warnInsecureUrls}.
 */
export function checkHttpsUrls(
  urls: readonly (readonly [field: string, url: unknown])[],
  allowInsecure: unknown,
  issues: ValidationIssue[],
  allowInsecureField = "allowInsecure",
): string[] {
  if (allowInsecure !== undefined && typeof allowInsecure !== "boolean") {
    issues.push({ field: allowInsecureField, value: allowInsecure, expected: "true or false" });
  }
  const insecure: string[] = [];
  for (const [field, url] of urls) {
    if (url === undefined) continue;
    if (typeof url === "string" && /^https:\/\/[^/]/i.test(url)) continue;
    if (typeof url === "string" && /^http:\/\/[^/]/i.test(url) && allowInsecure === true) {
      insecure.push(field);
      continue;
    }
    issues.push({
      field,
      value: url,
      expected:
        allowInsecure === true
          ? "an http(s) URL"
          : "an https:// URL (http:// only with allowInsecure: true, for tests)",
    });
  }
  return insecure;
}

/** Logs, once, that a provider talks cleartext HTTP because the host allowed it. */
export function warnInsecureUrls(
  logger: Logger | undefined,
  provider: string,
  fields: readonly string[],
): void {
  if (fields.length === 0) return;
  logger?.warn(`${provider} API URL is not https (allowed by allowInsecure)`, { provider, insecure: fields });
}
