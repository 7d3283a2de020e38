/** What the build steps share: the image a stage has built so far, events, and the step context. */
import type { BoxPaths } from "../paths.ts";
import type { StoreLayout } from "../image/store/layout.ts";
import type { BuildCache } from "./cache.ts";
import type { BuildContext } from "./context.ts";
import type { History, RunConfig } from "./image-config.ts";
import type { LayerRef, OwnerMap } from "./layer-writer.ts";
import type { BuildSecrets } from "./secrets.ts";

export interface ImageState {
  /** Cache key of everything so far (base image and every step's result). */
  key: string;
  layers: LayerRef[];
  config: RunConfig;
  history: History[];
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
}

export interface BuildEvents {
  /** `STEP n/m: INSTRUCTION`; `stage` is 1-based, `stages` the number of stages built. */
  step?(e: { stage: number; stages: number; n: number; of: number; text: string }): void;
  /** The step was found in the cache (its key). */
  cached?(key: string): void;
  /** A step finished; `id` is the state after it. */
  stepDone?(id: string): void;
  warning?(message: string): void;
  /** Output of a RUN under -q that failed (the build prints it only then). */
  failedOutput?(text: string): void;
}

/** A stage's file system flattened into a directory, for COPY --from and RUN --mount=from=. */
export interface StageRoot {
  dir: string;
  /** Identity of the content: the stage's key or the image ID. */
  key: string;
}

export interface StepContext {
  paths: BoxPaths;
  layout: StoreLayout;
  cache: BuildCache;
  context: BuildContext;
  quiet: boolean;
  /** --network of the build: the RUN default. */
  network: string;
  events: BuildEvents;
  /** --secret and --ssh: read only by the RUN steps that mount them. */
  secrets: BuildSecrets;
  owners: { toImage: OwnerMap; toHost: (uid: number, gid: number) => [number, number] | undefined };
  /** The root of a stage (by name or index) or image named by --from / from=. */
  stageRoot(ref: string): Promise<StageRoot>;
  /** The key of that stage or image, without flattening it (enough for a cache lookup). */
  stageKey(ref: string): Promise<string>;
  /** A fresh directory under the store's tmp/, removed when the build ends. */
  scratch(prefix: string): string;
  /** An empty directory: the lowerdir of a RUN in a stage FROM scratch. */
  emptyLower(): string;
}

/** Unpacked layer directories of a state, topmost first, each once. */
export function lowerDirs(layoutRoot: (diffId: string) => string, state: ImageState): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const l of [...state.layers].reverse()) {
    if (seen.has(l.diffId)) continue;
    seen.add(l.diffId);
    out.push(layoutRoot(l.diffId));
  }
  return out;
}
