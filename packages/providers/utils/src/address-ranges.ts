/**
 * What kind of destination an IP address is (R9), for the host policy. Parsing, CIDR matching and
 * the IANA special-purpose registries come from `ipaddr.js` (the library behind Express's
 * `proxy-addr`: no dependencies, maintained, typed): its named ranges are the registries
 * themselves, where a hand-typed table of CIDRs is one typo from a hole. On top of it, this file
 * decides what each kind means here, in one table a reviewer can read against R9:
 *
 * - Anything not plainly global unicast is refused unless the host allows it: a new or exotic
 *   special-purpose range (benchmarking, AMT, ORCHID, segment routing, IPv6 outside 2000::/3)
 *   falls to `reserved`, never to `public`.
 * - IPv6 forms that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
 *   `::a.b.c.d`, IPv4-translated, NAT64 `64:ff9b::/96`) are judged by the IPv4 address they carry:
 *   `::ffff:169.254.169.254` is the metadata service, not a public IPv6 address. Only the mapped
 *   and NAT64 forms of a public IPv4 address are public (a DNS64 network gives NAT64 answers for
 *   every IPv4-only server); the deprecated forms never are.
 * - 6to4 and Teredo tunnel to addresses they encode; both are deprecated for servers: `reserved`.
 * - Cloud metadata services get their own kind, so an allow list must name them exactly.
 */
import ipaddr from "ipaddr.js";
import { isIP } from "node:net";

/** The kinds of destination the host policy tells apart. */
export type AddressKind =
  | "public"
  | "loopback"
  /** RFC 1918, fc00::/7 unique local, fec0::/10 site-local. */
  | "private"
  /** 169.254.0.0/16, fe80::/10. */
  | "link_local"
  /** 100.64.0.0/10, carrier-grade NAT (RFC 6598). */
  | "shared"
  /** A cloud instance metadata service (AWS, GCP, Azure, Alibaba, Oracle). */
  | "metadata"
  | "unspecified"
  | "multicast"
  | "broadcast"
  /** Documentation, benchmarking, future use, deprecated tunnels, anything else special. */
  | "reserved";

/** A parsed address: IPv4 or IPv6, as `ipaddr.js` represents it. */
export type ParsedAddress = ipaddr.IPv4 | ipaddr.IPv6;

/** What {@link classifyAddress} found. */
export interface AddressClass {
  kind: AddressKind;
  /**
   * The address the kind is about: the embedded IPv4 address for an IPv6 form that carries one,
   * else the address itself. Allow-list entries are matched against it.
   */
  effective: ParsedAddress;
}

/**
 * Cloud metadata endpoints: AWS, GCP, Azure, OCI, DigitalOcean (169.254.169.254), AWS ECS task
 * metadata (169.254.170.2), AWS over IPv6 (fd00:ec2::254), Alibaba Cloud (100.100.100.200),
 * Oracle Cloud's legacy endpoint (192.0.0.192).
 */
const metadataAddresses: readonly ParsedAddress[] = [
  "169.254.169.254",
  "169.254.170.2",
  "fd00:ec2::254",
  "100.100.100.200",
  "192.0.0.192",
].map((a) => ipaddr.parse(a));

const ipv4Kinds: Record<string, AddressKind> = {
  unicast: "public",
  unspecified: "unspecified",
  broadcast: "broadcast",
  multicast: "multicast",
  linkLocal: "link_local",
  loopback: "loopback",
  carrierGradeNat: "shared",
  private: "private",
};

const ipv6Kinds: Record<string, AddressKind> = {
  unspecified: "unspecified",
  linkLocal: "link_local",
  multicast: "multicast",
  loopback: "loopback",
  uniqueLocal: "private",
  deprecatedSiteLocal: "private",
};

/** Global unicast, the only IPv6 space a public mail server lives in. */
const globalUnicast = ipaddr.parseCIDR("2000::/3");
const nat64WellKnown = ipaddr.parseCIDR("64:ff9b::/96");

function isMetadata(address: ParsedAddress): boolean {
  return metadataAddresses.some(
    (m) => m.kind() === address.kind() && m.toNormalizedString() === address.toNormalizedString(),
  );
}

function ipv4Of(parts: readonly number[]): ipaddr.IPv4 {
  const high = parts[6] ?? 0;
  const low = parts[7] ?? 0;
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

function classifyIpv4(address: ipaddr.IPv4): AddressKind {
  if (isMetadata(address)) return "metadata";
  return ipv4Kinds[address.range()] ?? "reserved";
}

/**
 * Parses an IP address in standard notation: dotted-quad IPv4 (no octal, hex or short forms, which
 * `ipaddr.js` alone would accept) or IPv6, optionally in brackets. Undefined when `text` is not one.
 * A zone id (`fe80::1%eth0`) is kept by the parser and changes nothing here.
 */
export function parseAddress(text: string): ParsedAddress | undefined {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const plain = bare.split("%")[0] ?? bare;
  const family = isIP(plain);
  if (family === 0) return undefined;
  try {
    return family === 4 ? ipaddr.IPv4.parse(plain) : ipaddr.IPv6.parse(withHexTail(bare));
  } catch {
    return undefined;
  }
}

/**
 * Writes an IPv6 address's dotted-quad tail as two hex groups. `ipaddr.js` reads `::a.b.c.d` as
 * `::ffff:a.b.c.d` (a documented leniency); the address a socket dials is the IPv4-compatible
 * `::a.b.c.d`, so that is what must be classified.
 */
function withHexTail(address: string): string {
  const [plain, zone] = address.split("%") as [string, string | undefined];
  const colon = plain.lastIndexOf(":");
  const tail = plain.slice(colon + 1);
  if (!tail.includes(".")) return address;
  const octets = tail.split(".").map(Number) as [number, number, number, number];
  const hex = `${((octets[0] << 8) | octets[1]).toString(16)}:${((octets[2] << 8) | octets[3]).toString(16)}`;
  return `${plain.slice(0, colon + 1)}${hex}${zone === undefined ? "" : `%${zone}`}`;
}

/** Classifies an address (R9); see the file's header for the rules. */
export function classifyAddress(address: ParsedAddress): AddressClass {
  if (address.kind() === "ipv4") {
    const v4 = address as ipaddr.IPv4;
    return { kind: classifyIpv4(v4), effective: v4 };
  }
  const v6 = address as ipaddr.IPv6;
  if (isMetadata(v6)) return { kind: "metadata", effective: v6 };
  const range = v6.range();
  const named = ipv6Kinds[range];
  if (named !== undefined) return { kind: named, effective: v6 };
  const embeddedPublicAllowed = range === "ipv4Mapped" || v6.match(nat64WellKnown);
  const compatible = v6.parts.slice(0, 6).every((part) => part === 0);
  if (range === "ipv4Mapped" || range === "rfc6145" || v6.match(nat64WellKnown) || compatible) {
    const embedded = ipv4Of(v6.parts);
    const kind = classifyIpv4(embedded);
    return { kind: kind === "public" && !embeddedPublicAllowed ? "reserved" : kind, effective: embedded };
  }
  if (range === "unicast" && v6.match(globalUnicast)) return { kind: "public", effective: v6 };
  return { kind: "reserved", effective: v6 };
}

/** A range of addresses, as an allow-list entry names it. */
export interface AddressRange {
  network: ParsedAddress;
  prefixLength: number;
  /** True when the range is one address (`/32`, `/128`, or no prefix at all). */
  single: boolean;
}

/**
 * Parses `10.0.0.0/8`, `fd00::/8`, `127.0.0.1` (one address) or `[::1]`. An IPv4-mapped IPv6 range
 * (`::ffff:10.0.0.0/104`) becomes the IPv4 range it covers, since addresses are matched by their
 * embedded IPv4 address. Undefined when `text` is not a range in standard notation.
 */
export function parseAddressRange(text: string): AddressRange | undefined {
  const slash = text.indexOf("/");
  const address = parseAddress(slash === -1 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  const max = address.kind() === "ipv4" ? 32 : 128;
  let prefixLength = max;
  if (slash !== -1) {
    const bits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return undefined;
    prefixLength = Number(bits);
  }
  if (address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress() && prefixLength >= 96) {
    return {
      network: (address as ipaddr.IPv6).toIPv4Address(),
      prefixLength: prefixLength - 96,
      single: prefixLength === 128,
    };
  }
  return { network: address, prefixLength, single: prefixLength === max };
}

/** Whether `address` (an {@link AddressClass.effective} address) lies in `range`. */
export function inRange(address: ParsedAddress, range: AddressRange): boolean {
  if (address.kind() !== range.network.kind()) return false;
  return address.kind() === "ipv4"
    ? (address as ipaddr.IPv4).match(range.network, range.prefixLength)
    : (address as ipaddr.IPv6).match(range.network, range.prefixLength);
}
