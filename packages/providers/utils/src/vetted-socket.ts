/**
 * Opening sockets to vetted destinations (R9): the one place a mail connection is dialled. The
 * socket goes to the address the host policy checked, never to the host name, and TLS always
 * verifies the certificate against the host name, with TLS 1.2 at least, whatever the process's
 * defaults (`--tls-min-v1.0`, `tls.DEFAULT_MIN_VERSION`) say.
 *
 * Protocol clients plug this in through their socket hooks: imapflow's `transport` option (see
 * `@clientmail/imap`), nodemailer's `getSocket` for SMTP.
 */
import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from "node:tls";
import type { VettedDestination } from "./host-policy.js";

/** TLS settings a provider takes from its host (never weaker than the defaults without opt-in). */
export interface TlsSettings {
  /** Default true. False needs the provider's `allowInsecure` and is logged (R9). */
  rejectUnauthorized?: boolean | undefined;
  /** Certificate name to expect instead of the host name. */
  servername?: string | undefined;
  /** Extra trusted CA certificates (PEM), e.g. a company's own CA. */
  ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
}

/** The lowest TLS version any mail connection accepts. */
export const MIN_TLS_VERSION = "TLSv1.2";

/** What a {@link SocketFactory} is asked to open. */
export interface SocketOpenOptions {
  /** A vetted address: connect to exactly this. */
  address: string;
  family: 4 | 6;
  port: number;
  /** TLS from the first byte with these options; absent for cleartext (and before STARTTLS). */
  tls?: ConnectionOptions | undefined;
}

/**
 * Opens a TCP (or TLS) connection to a vetted address and calls `onConnect` once it is up (after
 * the handshake for TLS); errors are emitted on the returned socket. A host may pass its own, to
 * route mail connections through its network layer; tests pass one that records where
 * connections go. It is only ever given addresses the host policy allowed.
 */
export type SocketFactory = (options: SocketOpenOptions, onConnect: () => void) => Socket | TLSSocket;

/** The factory of Node's `net` and `tls`. */
export const nodeSocketFactory: SocketFactory = (options, onConnect) =>
  options.tls === undefined
    ? connectTcp({ host: options.address, port: options.port, family: options.family }, onConnect)
    : connectTls({ ...options.tls, host: options.address, port: options.port }, onConnect);

/**
 * The TLS options of a connection to `destination`: certificate checked (unless the host opted
 * out), against `tls.servername` or the host name (an IP literal host is checked as an IP), at
 * least TLS 1.2.
 */
export function tlsOptionsFor(destination: VettedDestination, tls: TlsSettings = {}): ConnectionOptions {
  const servername = tls.servername ?? destination.servername;
  return {
    minVersion: MIN_TLS_VERSION,
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
    ...(servername === undefined ? {} : { servername }),
    ...(tls.ca === undefined ? {} : { ca: tls.ca as ConnectionOptions["ca"] }),
  };
}

/** Opens a socket to a vetted destination, TLS from the first byte when `tls` is given. */
export function openVettedSocket(
  factory: SocketFactory,
  destination: VettedDestination,
  tls: ConnectionOptions | undefined,
  onConnect: () => void,
): Socket | TLSSocket {
  return factory(
    { address: destination.address, family: destination.family, port: destination.port, tls },
    onConnect,
  );
}

/**
 * Starts TLS on a connected cleartext socket (STARTTLS), with the same checks as a direct TLS
 * connection. Handshake errors are emitted on the returned socket.
 */
export function upgradeVettedSocket(
  socket: Socket,
  destination: VettedDestination,
  tls: ConnectionOptions,
  onSecure: () => void,
): TLSSocket {
  // `host` only matters when there is no servername (an IP literal host): the IP is checked.
  return connectTls({ ...tls, socket, host: destination.address }, onSecure);
}
