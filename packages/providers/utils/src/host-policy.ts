/**
 * Where a mail connection may go (R9): one policy for every protocol that dials a host the
 * mailbox's settings name (IMAP today, SMTP next).
 *
 * The host name is resolved once, **every** address it resolves to is checked, and the caller
 * connects to the vetted address itself (with TLS `servername` set to the host name, so the
 * certificate is still checked against the name). Nothing resolves the name a second time, so a
 * DNS answer that changes between the check and the connection (DNS rebinding) changes nothing.
 *
 * By default only public unicast addresses on the protocol's standard ports are allowed; see
 * {@link classifyAddress} for what counts as public. The host (the application embedding
 * clientmail, not the user who types a server name) widens this with an explicit allow list.
 * A refusal happens before any packet is sent to the destination, so the time it takes says
 * nothing about what is there.
 */
import { lookup } from "node:dns/promises";
import { domainToASCII } from "node:url";
import {
  abortError,
  ClientMailError,
  ConnectionError,
  type ValidationIssue,
  ValidationError,
} from "@clientmail/core";
import {
  classifyAddress,
  inRange,
  parseAddress,
  parseAddressRange,
  type AddressKind,
  type AddressRange,
  type ParsedAddress,
} from "./address-ranges.js";

/** One address a name resolved to. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/**
 * Resolves a host name to all its addresses. The default is the system resolver
 * (`dns.lookup(name, { all: true })`, which reads `/etc/hosts` like every other program); a host
 * may pass one that asks only public DNS servers, and tests pass a table.
 */
export type HostResolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** The system resolver: `getaddrinfo` through `dns.lookup`, every address, in the system's order. */
export const systemResolver: HostResolver = async (hostname) =>
  await lookup(hostname, { all: true, verbatim: true });

/** The protocols the policy knows the standard ports of. */
export type MailProtocol = "imap" | "smtp";

/** IMAP: 143 (cleartext, STARTTLS) and 993 (TLS). SMTP: 25 (relay), 465 (TLS), 587 (submission). */
export const STANDARD_PORTS: Readonly<Record<MailProtocol, readonly number[]>> = {
  imap: [143, 993],
  smtp: [25, 465, 587],
};

/** Settings of a host policy, as a provider's `hostPolicy` setting takes them. */
export interface HostPolicySettings {
  /**
   * Destinations allowed besides public addresses on standard ports, as the host vouches for
   * them: IP addresses (`"192.0.2.7"`), CIDR ranges (`"10.20.0.0/16"`, `"127.0.0.1/32"` for a
   * loopback test server, `"fd00::/8"`) and host names (`"imap.corp.example"`, or
   * `"*.corp.example"` for its subdomains). An allowed destination may use any port.
   *
   * A host name entry trusts whatever that name resolves to, every time; an address entry is
   * safer. A cloud metadata address is allowed only by an entry naming exactly that address, never
   * by a range or a name. Unspecified (`0.0.0.0`, `::`), multicast and broadcast addresses are
   * never allowed: they are not a server (and `0.0.0.0` reaches the local machine on Linux).
   */
  allow?: readonly string[] | undefined;
  /** Ports allowed for public addresses besides the protocol's {@link STANDARD_PORTS}. */
  allowPorts?: readonly number[] | undefined;
  /** How names are resolved; default {@link systemResolver}. */
  resolve?: HostResolver | undefined;
}

/** Where to connect, once {@link HostPolicy.vet} has allowed it. */
export interface VettedDestination {
  /** The host as configured (lower-cased; an IDN name in its ASCII form). */
  host: string;
  port: number;
  /** The address to connect to: one the policy checked. Never resolve `host` again. */
  address: string;
  family: 4 | 6;
  /** The TLS server name (SNI and certificate check): the host name, or undefined for an IP literal. */
  servername: string | undefined;
  /** Whether the address is a loopback address (cleartext is tolerated there without opt-in). */
  loopback: boolean;
}

/** What {@link HostPolicy.vet} is asked about. */
export interface Destination {
  protocol: MailProtocol;
  host: string;
  port: number;
  /** Named in errors' details, e.g. `"imap"`. */
  provider: string;
}

/** Options of one {@link HostPolicy.vet}. */
export interface VetOptions {
  /** Longest wait for DNS; past it the call fails as `dns_failed`. Default 30 s. */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** A host policy: see the module comment. Stateless; one may serve any number of providers. */
export interface HostPolicy {
  /**
   * Resolves `destination.host` and checks every address and the port. Resolves to the
   * destination to connect to; rejects with a {@link ConnectionError}: `host_refused` when the
   * policy forbids it (before any connection), `dns_failed` when the name does not resolve (in
   * time). Rejects with the signal's abort error when `signal` aborts.
   */
  vet(destination: Destination, options?: VetOptions): Promise<VettedDestination>;
}

/** A host setting, parsed: an IP literal or a host name in ASCII. */
export type ParsedHost =
  { kind: "address"; address: ParsedAddress; text: string } | { kind: "name"; name: string };

const label = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/**
 * Parses a host setting: an IP address in standard notation (IPv6 optionally in brackets) or a
 * DNS name (an IDN name is converted to ASCII; a trailing dot is dropped). Undefined for anything
 * else, including names that only look like numbers (`127.1`, `2130706433`, `0x7f.1`), which a
 * resolver would read as IPv4 addresses in a form the policy does not want to reason about.
 */
export function parseHost(host: string): ParsedHost | undefined {
  if (typeof host !== "string") return undefined;
  const trimmed = host.trim();
  const address = parseAddress(trimmed);
  if (address !== undefined) return { kind: "address", address, text: trimmed.replace(/^\[|\]$/g, "") };
  const ascii = domainToASCII(trimmed.replace(/\.$/, "")).toLowerCase();
  if (ascii === "" || ascii.length > 253) return undefined;
  const labels = ascii.split(".");
  if (!labels.every((l) => label.test(l))) return undefined;
  // WHATWG URL's rule: a host whose last label is a number is an IPv4 address, not a name.
  if (/^(\d+|0x[0-9a-f]*)$/.test(labels[labels.length - 1]!)) return undefined;
  return { kind: "name", name: ascii };
}

type AllowEntry =
  { kind: "range"; range: AddressRange } | { kind: "name"; name: string; subdomains: boolean };

function parseAllowEntry(text: unknown): AllowEntry | undefined {
  if (typeof text !== "string") return undefined;
  const range = parseAddressRange(text.trim());
  if (range !== undefined) return { kind: "range", range };
  const subdomains = text.trim().startsWith("*.");
  const host = parseHost(subdomains ? text.trim().slice(2) : text);
  return host?.kind === "name" ? { kind: "name", name: host.name, subdomains } : undefined;
}

/** Kinds no allow list can open: they are not a server. */
const neverAllowed: ReadonlySet<AddressKind> = new Set(["unspecified", "multicast", "broadcast"]);

class AllowListHostPolicy implements HostPolicy {
  private readonly ranges: AddressRange[];
  private readonly names: { name: string; subdomains: boolean }[];

  constructor(
    entries: readonly AllowEntry[],
    private readonly allowPorts: ReadonlySet<number>,
    private readonly resolve: HostResolver,
  ) {
    this.ranges = entries.flatMap((e) => (e.kind === "range" ? [e.range] : []));
    this.names = entries.flatMap((e) => (e.kind === "name" ? [e] : []));
  }

  private nameAllowed(name: string): boolean {
    return this.names.some((entry) =>
      entry.subdomains ? name.endsWith(`.${entry.name}`) : name === entry.name,
    );
  }

  async vet(destination: Destination, options: VetOptions = {}): Promise<VettedDestination> {
    const { protocol, port, provider } = destination;
    const details = { provider, host: destination.host, port };
    const refuse = (refused: AddressKind | "port" | "not_a_host"): never => {
      throw new ConnectionError("host_refused", { details: { ...details, refused } });
    };
    const host = parseHost(destination.host);
    if (host === undefined) return refuse("not_a_host");
    const standardPort = STANDARD_PORTS[protocol].includes(port) || this.allowPorts.has(port);
    const nameAllowed = host.kind === "name" && this.nameAllowed(host.name);
    // Only an address entry could still allow this port: without any, refuse before DNS.
    if (!standardPort && !nameAllowed && this.ranges.length === 0) refuse("port");

    const addresses =
      host.kind === "address" ? [host.address] : await this.lookup(host.name, details, options);
    let chosen: { address: ParsedAddress; kind: AddressKind } | undefined;
    for (const address of addresses) {
      const { kind, effective } = classifyAddress(address);
      if (neverAllowed.has(kind)) refuse(kind);
      const byAddress = this.ranges.some((r) => inRange(effective, r) && (kind !== "metadata" || r.single));
      if (kind === "metadata" && !byAddress) refuse(kind);
      if (!byAddress && !nameAllowed) {
        if (kind !== "public") refuse(kind);
        if (!standardPort) refuse("port");
      }
      chosen ??= { address, kind };
    }
    if (chosen === undefined) return refuse("not_a_host");
    return {
      host: host.kind === "name" ? host.name : host.text,
      port,
      address: chosen.address.toString(),
      family: chosen.address.kind() === "ipv4" ? 4 : 6,
      servername: host.kind === "name" ? host.name : undefined,
      loopback: chosen.kind === "loopback",
    };
  }

  private async lookup(
    name: string,
    details: Record<string, unknown>,
    options: VetOptions,
  ): Promise<ParsedAddress[]> {
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal);
    const timeoutMs = options.timeoutMs ?? 30_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ConnectionError("dns_failed", { details: { ...details, timedOut: true } })),
        timeoutMs,
      );
      onAbort = () => reject(abortError(signal!));
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    let answers: readonly ResolvedAddress[];
    try {
      answers = await Promise.race([this.resolve(name), stop]);
    } catch (error) {
      if (ClientMailError.isInstance(error)) throw error;
      throw new ConnectionError("dns_failed", { cause: error, details });
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
    if (!Array.isArray(answers) || answers.length === 0) {
      throw new ConnectionError("dns_failed", { details });
    }
    // An answer that is not an address is refused, not skipped: every answer must pass.
    return answers.map((answer) => {
      const parsed = parseAddress(String((answer as Partial<ResolvedAddress>)?.address));
      if (parsed === undefined) {
        throw new ConnectionError("host_refused", { details: { ...details, refused: "not_a_host" } });
      }
      return parsed;
    });
  }
}

/**
 * Builds a host policy from its settings, adding a {@link ValidationIssue} under `field` for each
 * invalid one (`hostPolicy.allow.2`, `hostPolicy.allowPorts.0`, ...), so a provider can report
 * them with its other settings. The returned policy is only meaningful when no issue was added.
 */
export function resolveHostPolicy(
  settings: HostPolicySettings | undefined,
  issues: ValidationIssue[],
  field = "hostPolicy",
): HostPolicy {
  const allow = settings?.allow ?? [];
  const allowPorts = settings?.allowPorts ?? [];
  const entries: AllowEntry[] = [];
  if (settings !== undefined && (typeof settings !== "object" || settings === null)) {
    issues.push({ field, value: settings, expected: "{ allow?, allowPorts?, resolve? }" });
  } else if (!Array.isArray(allow)) {
    issues.push({
      field: `${field}.allow`,
      value: allow,
      expected: "a list of addresses, ranges or host names",
    });
  } else {
    allow.forEach((text, index) => {
      const entry = parseAllowEntry(text);
      if (entry === undefined) {
        issues.push({
          field: `${field}.allow.${index}`,
          value: text,
          expected:
            'an IP address, a CIDR range ("10.0.0.0/8") or a host name ("imap.example.com", "*.example.com")',
        });
      } else entries.push(entry);
    });
  }
  if (!Array.isArray(allowPorts)) {
    issues.push({ field: `${field}.allowPorts`, value: allowPorts, expected: "a list of TCP ports" });
  } else {
    allowPorts.forEach((port, index) => {
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        issues.push({ field: `${field}.allowPorts.${index}`, value: port, expected: "a TCP port (1-65535)" });
    });
  }
  const resolve = settings?.resolve ?? systemResolver;
  if (typeof resolve !== "function") {
    issues.push({
      field: `${field}.resolve`,
      value: typeof resolve,
      expected: "a function (hostname) => addresses",
    });
  }
  return new AllowListHostPolicy(
    entries,
    new Set(Array.isArray(allowPorts) ? allowPorts : []),
    typeof resolve === "function" ? resolve : systemResolver,
  );
}

/**
 * Creates a host policy; throws a ValidationError naming every invalid setting. Providers take
 * the settings (their `hostPolicy` setting) and build it themselves; this is for a host that wants
 * to vet a destination up front, e.g. when a user types a server name.
 */
export function createHostPolicy(settings: HostPolicySettings = {}): HostPolicy {
  const issues: ValidationIssue[] = [];
  const policy = resolveHostPolicy(settings, issues);
  if (issues.length > 0) throw new ValidationError(issues);
  return policy;
}
