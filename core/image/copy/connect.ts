/** A registry client set up the way the user's configuration and flags ask for one registry. */
import { findCredentials } from "../auth-file.ts";
import { RegistryClient, type Credentials, type RetryPolicy } from "../registry/client.ts";
import type { RegistriesConfig } from "../registries-config.ts";

export interface ConnectOptions {
  /** --tls-verify=false: plain HTTP (docker's insecure-registries) for this invocation. */
  tlsVerify?: boolean | undefined;
  /** Explicit credentials (`--creds`); otherwise the auth files are consulted. */
  credentials?: Credentials | undefined;
  /** Tests shorten the backoff. */
  retry?: Partial<RetryPolicy> | undefined;
}

export function connect(registry: string, config: RegistriesConfig, options: ConnectOptions = {}): RegistryClient {
  // Undefined leaves the client's own rule in force: loopback registries are spoken to in HTTP.
  const insecure = options.tlsVerify === false || config.insecure.includes(registry) ? true : undefined;
  return new RegistryClient({
    registry,
    insecure,
    credentials: options.credentials ?? findCredentials(registry),
    retry: options.retry,
  });
}
