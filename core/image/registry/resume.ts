/**
 * A blob body that survives a dropped connection: when the stream breaks with a transient
 * network error, the rest is asked for with `Range: bytes=<received>-` and the stream carries on
 * from there, so the consumer (a hash, an unpacker) never notices. The distribution spec lets
 * registries honour ranges on blob GETs; one that answers 200 instead of 206 cannot resume, and
 * the original error stands.
 */
import { isTransientNetworkError } from "./retry.ts";

/** Ask for the blob from `offset` on; undefined when the server will not serve a range. */
export type RangeFetcher = (offset: number) => Promise<ReadableStream<Uint8Array> | undefined>;

/** How many breaks one body may survive before the error is reported. */
const MAX_RESUMES = 3;

export function resumableBody(first: ReadableStream<Uint8Array>, fetchFrom: RangeFetcher): ReadableStream<Uint8Array> {
  let reader = first.getReader();
  let received = 0;
  let resumes = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        try {
          const r = await reader.read();
          if (r.done) {
            controller.close();
            return;
          }
          received += r.value.byteLength;
          controller.enqueue(r.value);
          return;
        } catch (err) {
          if (resumes >= MAX_RESUMES || !isTransientNetworkError(err)) throw err;
          resumes++;
          const rest = await fetchFrom(received).catch(() => undefined);
          if (rest === undefined) throw err;
          reader = rest.getReader();
        }
      }
    },
    async cancel(reason) {
      await reader.cancel(reason);
    },
  });
}

/** Does a Content-Range header ("bytes 100-999/1000") start where the client asked? */
export function rangeStartsAt(contentRange: string | null, offset: number): boolean {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(contentRange?.trim() ?? "");
  return m !== null && Number(m[1]) === offset;
}
