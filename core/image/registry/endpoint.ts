/**
 * Where a registry's API is served. References name registries by host ("docker.io",
 * "localhost:5000"); the client needs a scheme and, for Docker Hub, a different host.
 */
import { DEFAULT_REGISTRY } from "../reference.ts";

/** Docker Hub's API is not served at docker.io itself. */
const DOCKER_HUB_API = "https://registry-1.docker.io";

/** localhost, 127.0.0.0/8 or ::1, with or without a port. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith("[") ? registry.slice(1, registry.indexOf("]")) : registry.split(":")[0] ?? "";
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * The API origin. Plain HTTP only when the registry is configured insecure, which by default only
 * loopback registries are: docker marks 127.0.0.0/8 insecure on its own, since that traffic never
 * leaves the machine.
 */
export function registryOrigin(registry: string, insecure = isLoopbackRegistry(registry)): string {
  if (registry === DEFAULT_REGISTRY) return DOCKER_HUB_API;
  return `${insecure ? "http" : "https"}://${registry}`;
}
