/** Steps that take back what a start (or a restore) made, run last-made first. */
export type Undo = () => void | Promise<void>;

/**
 * Run every step, newest first, and empty the list (a caller's outer unwind must not repeat
 * them). Each is best effort: the first error (or the container's exit code) is what the user
 * needs to see, not a cleanup's.
 */
export async function unwind(undo: Undo[]): Promise<void> {
  for (const fn of undo.reverse()) {
    try {
      await fn();
    } catch {
      // see above
    }
  }
  undo.length = 0;
}
