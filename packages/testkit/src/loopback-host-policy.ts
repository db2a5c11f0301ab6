/**
 * The host-policy settings for test servers on this machine (R9). Providers refuse loopback
 * addresses by default; a test that talks to a loopback Dovecot, SMTP server or TCP proxy allows
 * exactly those addresses, and nothing else, through the provider's `hostPolicy` setting:
 *
 * ```ts
 * createImapProvider({ host: "127.0.0.1", port, security: "none", hostPolicy: loopbackHostPolicy, ... });
 * ```
 */
export const loopbackHostPolicy: { readonly allow: readonly string[] } = Object.freeze({
  allow: Object.freeze(["127.0.0.1/32", "::1/128"]),
});
