/**
 * `box build`: context and Dockerfile → parse → stage graph → run the stages the target needs
 * (independent ones concurrently) → commit the target as an image with the -t names.
 *
 * The whole build holds the store's writer lock (shared), so a garbage collection cannot take
 * the layers a build made before its image record names them.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { hostPlatform } from "../image/registry/platform.ts";
import { asWriter } from "../image/store/gc.ts";
import { makeTemp, prepareStore, storeLayout } from "../image/store/layout.ts";
import { removeTree } from "../state/remove.ts";
import { resolveBase, scratchState, stateOf } from "./base-image.ts";
import { BuildCache } from "./cache.ts";
import { commitImage, storedTag } from "./commit.ts";
import { loadContext } from "./context.ts";
import { parseDockerfile } from "./dockerfile/parse.ts";
import type { Stage } from "./dockerfile/types.ts";
import { evaluateGlobals, fromImage, StageEvaluator, type BuildArgs, type Finding } from "./evaluate.ts";
import { flattenLayers, ownerMaps } from "./rootfs.ts";
import { parseBuildSecrets } from "./secrets.ts";
import { runStage } from "./stage-runner.ts";
import { neededStages, stageRef, targetStage } from "./stages.ts";
import type { BuildEvents, ImageState, StageRoot, StepContext } from "./state.ts";

export interface BuildOptions {
  context: string;
  file?: string | undefined;
  tags: string[];
  /** `K=V`, or `K` to take the value from the environment. */
  buildArgs: string[];
  target?: string | undefined;
  noCache: boolean;
  pull: boolean;
  labels: string[];
  network: string;
  quiet: boolean;
  readStdin: () => Promise<Uint8Array>;
  env?: NodeJS.ProcessEnv;
  /** --secret specs (id=ID,src=FILE | id=ID,env=VAR). */
  secrets?: string[];
  /** --ssh specs (default | ID=SOCKET). */
  ssh?: string[];
}

export interface BuildResult {
  id: string;
  names: string[];
}

export function parseBuildArgs(specs: string[], env: NodeJS.ProcessEnv = process.env): BuildArgs {
  const values = new Map<string, string>();
  for (const s of specs) {
    const eq = s.indexOf("=");
    const name = eq < 0 ? s : s.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new BoxError("E_INVALID_INPUT", `--build-arg: invalid argument \`${s}\``, { hint: "use --build-arg NAME=value, or --build-arg NAME to pass it from the environment" });
    if (eq >= 0) values.set(name, s.slice(eq + 1));
    else if (env[name] !== undefined) values.set(name, env[name] as string);
  }
  return { values, consumed: new Set() };
}

export function parseLabels(specs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of specs) {
    const eq = s.indexOf("=");
    if (eq === 0) throw new BoxError("E_INVALID_INPUT", `--label: invalid label \`${s}\``, { hint: "use --label KEY=value" });
    out[eq < 0 ? s : s.slice(0, eq)] = eq < 0 ? "" : s.slice(eq + 1);
  }
  return out;
}

/** Build args docker calls "predefined": never reported as unused. */
const PREDEFINED = new Set(["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"]);

export async function buildImage(paths: BoxPaths, opts: BuildOptions, events: BuildEvents = {}): Promise<BuildResult> {
  const layout = storeLayout(paths.storage);
  prepareStore(layout);
  const names = opts.tags.map(storedTag);
  const labels = parseLabels(opts.labels);
  const buildArgs = parseBuildArgs(opts.buildArgs, opts.env);
  const secrets = parseBuildSecrets(opts.secrets ?? [], opts.ssh ?? [], opts.env);
  const scratchDirs: string[] = [];
  const scratch = (prefix: string): string => {
    const d = makeTemp(layout, `build-${prefix}`);
    scratchDirs.push(d);
    return d;
  };
  try {
    return await asWriter(layout, async () => {
      const context = await loadContext({ context: opts.context, file: opts.file, scratch: () => scratch("context"), readStdin: opts.readStdin, rootless: paths.rootless });
      const df = parseDockerfile(context.dockerfile.text, context.dockerfile.name);
      const findings: Finding[] = [];
      const globals = evaluateGlobals(df, buildArgs, findings);
      const target = targetStage(df, opts.target);
      const baseNames = new Map<number, string>();
      const baseOf = (s: Stage): string => {
        let b = baseNames.get(s.index);
        if (b === undefined) baseNames.set(s.index, (b = fromImage(s.from, globals, df.directives.escape, findings)));
        return b;
      };
      const deps = neededStages(df, target, baseOf, globals);
      const order = [...deps.keys()].sort((a, b) => a - b);
      const results = new Map<number, Promise<ImageState>>();
      const roots = new Map<string, Promise<StageRoot>>();
      let failed = false;
      let emptyLower: string | undefined;
      const platform = hostPlatform();

      const sc: StepContext = {
        paths, layout, context, quiet: opts.quiet, network: opts.network, events, secrets,
        cache: new BuildCache(paths.storage, layout, !opts.noCache),
        owners: ownerMaps(paths.rootless),
        scratch,
        emptyLower: () => {
          if (emptyLower === undefined) mkdirSync((emptyLower = join(scratch("empty"), "root")));
          return emptyLower;
        },
        async stageKey(ref: string): Promise<string> {
          const idx = stageRef(df, ref, df.stages.length, df.stages[0]?.from as Stage["from"]);
          if (idx !== undefined) return (await stageResult(idx)).key;
          return stateOf(layout, await resolveBase(paths, layout, ref, opts.pull)).key;
        },
        stageRoot(ref: string): Promise<StageRoot> {
          let p = roots.get(ref);
          if (p === undefined) {
            p = (async () => {
              const idx = stageRef(df, ref, df.stages.length, df.stages[0]?.from as Stage["from"]);
              const state = idx !== undefined ? await stageResult(idx) : stateOf(layout, await resolveBase(paths, layout, ref, opts.pull));
              const dir = join(scratch("root"), "rootfs");
              await flattenLayers(layout, state.layers, dir, paths.rootless);
              return { dir, key: state.key };
            })();
            roots.set(ref, p);
          }
          return p;
        },
      };

      const stageResult = (idx: number): Promise<ImageState> => {
        let p = results.get(idx);
        if (p === undefined) {
          p = (async () => {
            const stage = df.stages[idx] as Stage;
            const baseName = baseOf(stage);
            const baseIdx = stageRef(df, baseName, idx, stage.from);
            let base: ImageState;
            if (baseIdx !== undefined) base = await stageResult(baseIdx);
            else if (baseName.toLowerCase() === "scratch") base = scratchState(platform.architecture, platform.os);
            else base = stateOf(layout, await resolveBase(paths, layout, baseName, opts.pull));
            const ev = new StageEvaluator({ ...base.config }, globals, buildArgs, df.directives.escape, findings);
            const text = stage.from.text;
            return runStage(sc, {
              stage, position: order.indexOf(idx) + 1, stages: order.length, base, baseText: text, ev, aborted: () => failed,
            });
          })();
          p.catch(() => {
            failed = true;
          });
          results.set(idx, p);
        }
        return p;
      };

      // Start every needed stage now: those that do not depend on each other run concurrently.
      // Quiet, independent stages run concurrently; with output, one after the other, so each
      // step's lines and its RUN output stay together. A failed stage stops the others between
      // steps; wait for them before reporting it.
      if (!opts.quiet) for (const i of order) await stageResult(i);
      const settled = await Promise.allSettled(order.map((i) => stageResult(i)));
      const failure = settled.find((s) => s.status === "rejected");
      if (failure !== undefined) throw (failure as PromiseRejectedResult).reason;
      const final = await stageResult(target.index);
      for (const name of buildArgs.values.keys()) {
        if (!buildArgs.consumed.has(name) && !PREDEFINED.has(name)) events.warning?.(`one or more build-args [${name}] were not consumed`);
      }
      const record = commitImage(layout, final, names, labels);
      return { id: record.id, names };
    });
  } finally {
    for (const d of scratchDirs) removeTree(d);
  }
}
