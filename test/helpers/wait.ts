/** Poll `fn` until it holds or `timeoutMs` passes; false then. For states that settle
 * asynchronously (a monitor writing its exit file, a server starting to listen). */
export async function until(fn: () => Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (await fn()) return true;
    await Bun.sleep(25);
  }
  return false;
}
