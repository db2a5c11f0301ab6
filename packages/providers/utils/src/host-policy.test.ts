/**
 * The host policy (R9) with an injected resolver: nothing here opens a socket, and no address in
 * these tables is ever dialled.
 */
import { describe, expect, it } from "vitest";
import { ClientMailError, ConnectionError, ValidationError } from "@clientmail/core";
import {
  createHostPolicy,
  parseHost,
  type Destination,
  type HostPolicySettings,
  type HostResolver,
} from "./host-policy.js";

/** A resolver answering from a table; unknown names fail like the system resolver does. */
function tableResolver(table: Record<string, readonly string[]>, calls: string[] = []): HostResolver {
  return async (name) => {
    calls.push(name);
    const answers = table[name];
    if (answers === undefined)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" });
    return answers.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
}

function imap(host: string, port = 993): Destination {
  return { protocol: "imap", host, port, provider: "imap" };
}

async function refusal(
  destination: Destination,
  settings: HostPolicySettings = {},
): Promise<{ reason: string; refused: unknown; code: string; retryable: boolean } | "allowed"> {
  try {
    await createHostPolicy(settings).vet(destination, { timeoutMs: 200 });
    return "allowed";
  } catch (error) {
    if (!ConnectionError.isInstance(error)) throw error;
    return {
      reason: error.reason,
      refused: error.details.refused,
      code: error.code,
      retryable: error.retryable,
    };
  }
}

const publicV4 = "93.184.215.14";
const publicV6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c";

const dns: Record<string, readonly string[]> = {
  localhost: ["127.0.0.1", "::1"],
  "public.example.test": [publicV4, publicV6],
  "one-private.example.test": [publicV4, "10.0.0.5"],
  "private-last-v6.example.test": [publicV6, publicV4, "fd12:3456::1"],
  "mapped-metadata.example.test": ["::ffff:169.254.169.254"],
  "nat64-public.example.test": ["64:ff9b::5db8:d70e"],
  "garbage.example.test": ["not-an-address"],
  "imap.corp.example": ["10.20.0.5"],
  "a.corp.example": ["10.20.0.6"],
  "corp.example": ["10.20.0.7"],
  "metadata.corp.example": ["169.254.169.254"],
};

describe("host policy (R9)", () => {
  const refusedByDefault: [string, string][] = [
    ["127.0.0.1", "loopback"],
    ["127.255.0.1", "loopback"],
    ["::1", "loopback"],
    ["[::1]", "loopback"],
    ["localhost", "loopback"],
    ["10.0.0.1", "private"],
    ["172.16.5.4", "private"],
    ["192.168.1.1", "private"],
    ["fc00::1", "private"],
    ["fd12:3456::1", "private"],
    ["fec0::1", "private"],
    ["169.254.1.1", "link_local"],
    ["fe80::1", "link_local"],
    ["fe80::1%eth0", "link_local"],
    ["100.64.0.1", "shared"],
    ["169.254.169.254", "metadata"],
    ["169.254.170.2", "metadata"],
    ["fd00:ec2::254", "metadata"],
    ["100.100.100.200", "metadata"],
    ["192.0.0.192", "metadata"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["ff02::1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["192.0.2.1", "reserved"],
    ["198.18.0.1", "reserved"],
    ["240.0.0.1", "reserved"],
    ["2001:db8::1", "reserved"],
    ["100::1", "reserved"],
    // IPv6 forms that carry an IPv4 address are judged by it.
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:169.254.169.254", "metadata"],
    ["::ffff:a9fe:a9fe", "metadata"],
    ["::ffff:100.100.100.200", "metadata"],
    ["::127.0.0.1", "loopback"],
    ["::ffff:0:169.254.169.254", "metadata"],
    ["64:ff9b::169.254.169.254", "metadata"],
    ["64:ff9b::10.0.0.1", "private"],
    // Deprecated forms of a public address, and tunnels, are not public.
    ["::93.184.215.14", "reserved"],
    ["2002:a9fe:a9fe::1", "reserved"],
    ["2001:0:4136:e378::1", "reserved"],
    ["64:ff9b:1::a9fe:a9fe", "reserved"],
    // Names: every address counts, and one bad answer refuses the name.
    ["one-private.example.test", "private"],
    ["private-last-v6.example.test", "private"],
    ["mapped-metadata.example.test", "metadata"],
    ["garbage.example.test", "not_a_host"],
  ];

  it.each(refusedByDefault)(
    "R9: %s is refused by default (%s), before any connection",
    async (host, kind) => {
      expect(await refusal(imap(host), { resolve: tableResolver(dns) })).toEqual({
        reason: "host_refused",
        refused: kind,
        code: "permission_denied",
        retryable: false,
      });
    },
  );

  it("R9: public addresses on the standard ports are allowed, and the vetted address is the one to dial", async () => {
    const policy = createHostPolicy({ resolve: tableResolver(dns) });
    expect(await policy.vet(imap("public.example.test"))).toEqual({
      host: "public.example.test",
      port: 993,
      address: publicV4,
      family: 4,
      servername: "public.example.test",
      loopback: false,
    });
    expect(await policy.vet(imap(publicV6, 143))).toMatchObject({
      address: publicV6,
      family: 6,
      servername: undefined,
    });
    for (const host of ["nat64-public.example.test", `::ffff:${publicV4}`]) {
      expect(await refusal(imap(host), { resolve: tableResolver(dns) }), host).toBe("allowed");
    }
    for (const port of [25, 465, 587]) {
      expect(await policy.vet({ protocol: "smtp", host: publicV4, port, provider: "smtp" })).toMatchObject({
        port,
      });
    }
  });

  it("R9: a non-standard port is refused unless allowed; a name is refused without a DNS query when nothing could allow it", async () => {
    const calls: string[] = [];
    expect(
      await refusal(imap("public.example.test", 6379), { resolve: tableResolver(dns, calls) }),
    ).toMatchObject({
      refused: "port",
    });
    expect(calls).toEqual([]);
    expect(await refusal(imap(publicV4, 587))).toMatchObject({ refused: "port" });
    expect(await refusal(imap(publicV4, 1143), { allowPorts: [1143] })).toBe("allowed");
    expect(await refusal(imap(publicV4, 1144), { allowPorts: [1143] })).toMatchObject({ refused: "port" });
  });

  it("R9: the allow list opens exactly what it names, on any port", async () => {
    const loopback = { allow: ["127.0.0.1/32"], resolve: tableResolver(dns) };
    expect(await refusal(imap("127.0.0.1", 31143), loopback)).toBe("allowed");
    expect(await refusal(imap("::ffff:127.0.0.1", 31143), loopback)).toBe("allowed");
    expect(await refusal(imap("127.0.0.2", 31143), loopback)).toMatchObject({ refused: "loopback" });
    // localhost also answers ::1, which the entry does not name.
    expect(await refusal(imap("localhost", 31143), loopback)).toMatchObject({ refused: "loopback" });
    expect(await refusal(imap("localhost"), { ...loopback, allow: ["127.0.0.0/8", "::1"] })).toBe("allowed");
    expect(await createHostPolicy(loopback).vet(imap("127.0.0.1", 31143))).toMatchObject({ loopback: true });

    const corp = { allow: ["10.0.0.0/8", "fd00::/8"] };
    expect(await refusal(imap("10.1.2.3"), corp)).toBe("allowed");
    expect(await refusal(imap("fd00::5"), corp)).toBe("allowed");
    expect(await refusal(imap("192.168.0.1"), corp)).toMatchObject({ refused: "private" });
    expect(await refusal(imap("::ffff:10.1.2.3"), { allow: ["::ffff:10.0.0.0/104"] })).toBe("allowed");
  });

  it("R9: a metadata address is allowed only by an entry naming exactly that address", async () => {
    expect(await refusal(imap("169.254.169.254"), { allow: ["169.254.0.0/16"] })).toMatchObject({
      refused: "metadata",
    });
    expect(await refusal(imap("fd00:ec2::254"), { allow: ["fd00::/8"] })).toMatchObject({
      refused: "metadata",
    });
    expect(await refusal(imap("100.100.100.200"), { allow: ["100.64.0.0/10"] })).toMatchObject({
      refused: "metadata",
    });
    expect(await refusal(imap("169.254.169.254"), { allow: ["169.254.169.254"] })).toBe("allowed");
    expect(
      await refusal(imap("metadata.corp.example"), {
        allow: ["*.corp.example"],
        resolve: tableResolver(dns),
      }),
    ).toMatchObject({ refused: "metadata" });
  });

  it("R9: unspecified, multicast and broadcast addresses are never allowed", async () => {
    const everything = { allow: ["0.0.0.0/0", "::/0"] };
    for (const host of ["0.0.0.0", "::", "224.0.0.1", "255.255.255.255", "::ffff:0.0.0.0"]) {
      expect(await refusal(imap(host), everything), host).toMatchObject({ reason: "host_refused" });
    }
    expect(await refusal(imap("10.9.9.9", 6379), everything)).toBe("allowed");
  });

  it("R9: host name entries allow what the name resolves to; *. entries its subdomains only", async () => {
    const resolve = tableResolver(dns);
    expect(await refusal(imap("imap.corp.example", 1143), { allow: ["imap.corp.example"], resolve })).toBe(
      "allowed",
    );
    expect(await refusal(imap("IMAP.Corp.Example."), { allow: ["imap.corp.example"], resolve })).toBe(
      "allowed",
    );
    expect(await refusal(imap("a.corp.example"), { allow: ["*.corp.example"], resolve })).toBe("allowed");
    expect(await refusal(imap("corp.example"), { allow: ["*.corp.example"], resolve })).toMatchObject({
      refused: "private",
    });
    expect(await refusal(imap("a.corp.example"), { allow: ["imap.corp.example"], resolve })).toMatchObject({
      refused: "private",
    });
  });

  it("R9: DNS failures are dns_failed (transient), and the resolver is given a deadline", async () => {
    expect(await refusal(imap("nowhere.example.test"), { resolve: tableResolver(dns) })).toEqual({
      reason: "dns_failed",
      refused: undefined,
      code: "transient",
      retryable: true,
    });
    expect(await refusal(imap("empty.example.test"), { resolve: async () => [] })).toMatchObject({
      reason: "dns_failed",
    });
    const started = Date.now();
    const hanging = createHostPolicy({ resolve: () => new Promise(() => undefined) });
    const error = await hanging.vet(imap("slow.example.test"), { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(ConnectionError.isInstance(error) && error.reason).toBe("dns_failed");
    expect(Date.now() - started).toBeLessThan(2000);
    const controller = new AbortController();
    const aborted = hanging
      .vet(imap("slow.example.test"), { signal: controller.signal })
      .catch((e: unknown) => e);
    controller.abort();
    expect(ClientMailError.hasCode(await aborted, "transient")).toBe(true);
    expect(ConnectionError.isInstance(await aborted)).toBe(false);
  });

  it("R9: the refusal names the host and what was refused, never an address the name resolved to", async () => {
    const error = (await createHostPolicy({ resolve: tableResolver(dns) })
      .vet(imap("one-private.example.test"))
      .catch((e: unknown) => e)) as ConnectionError;
    expect(error.details).toEqual({
      provider: "imap",
      host: "one-private.example.test",
      port: 993,
      reason: "host_refused",
      refused: "private",
    });
    expect(`${error.message} ${JSON.stringify(error.details)}`).not.toContain("10.0.0.5");
  });

  it("T12: invalid policy settings are named each, with the value and what was expected", () => {
    let error: unknown;
    try {
      createHostPolicy({
        allow: ["10.0.0.0/33", "not a host!", "127.1", 5 as unknown as string, "10.0.0.0/8", "*.ok.example"],
        allowPorts: [0, 70_000, 993],
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((issue) => [issue.field, issue.value])).toEqual([
      ["hostPolicy.allow.0", "10.0.0.0/33"],
      ["hostPolicy.allow.1", "not a host!"],
      ["hostPolicy.allow.2", "127.1"],
      ["hostPolicy.allow.3", 5],
      ["hostPolicy.allowPorts.0", 0],
      ["hostPolicy.allowPorts.1", 70_000],
    ]);
  });

  it("R9: host settings are an IP in standard notation or a DNS name; numeric tricks are not names", () => {
    for (const host of [
      "127.1",
      "2130706433",
      "0x7f.1",
      "0x7f000001",
      "1.2.3.4.5",
      "a..b",
      "-a.example",
      "",
      " ",
    ]) {
      expect(parseHost(host), host).toBeUndefined();
    }
    expect(parseHost("BÜCHER.example.")).toEqual({ kind: "name", name: "xn--bcher-kva.example" });
    expect(parseHost("[2001:db8::1]")).toMatchObject({ kind: "address", text: "2001:db8::1" });
    expect(parseHost("mail-1.example.com")).toEqual({ kind: "name", name: "mail-1.example.com" });
  });
});
