/** `box inspect`: a container described in the shape of docker's JSON, from box's own records. */
import type { DeviceRate, Resources } from "../schema/container.ts";
import { networkSettings } from "../network/settings.ts";
import type { ContainerRecord } from "../state/containers.ts";
import { isRunning } from "./lifecycle.ts";
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from "./mounts.ts";

const ZERO_TIME = "0001-01-01T00:00:00Z";

/** docker's HostConfig resource fields: 0 where no limit was set. */
function resourcesOf(r: Resources): Record<string, unknown> {
  const rates = (list: DeviceRate[] | undefined) => (list ?? []).map((d) => ({ Path: d.path, Rate: d.rate }));
  return {
    Memory: r.memory ?? 0,
    MemorySwap: r.memorySwap ?? (r.memory ? r.memory * 2 : 0),
    MemoryReservation: r.memoryReservation ?? 0,
    NanoCpus: r.nanoCpus ?? 0,
    CpuShares: r.cpuShares ?? 0,
    CpusetCpus: r.cpusetCpus ?? "",
    PidsLimit: r.pidsLimit ?? 0,
    BlkioWeight: r.blkioWeight ?? 0,
    BlkioDeviceReadBps: rates(r.deviceReadBps),
    BlkioDeviceWriteBps: rates(r.deviceWriteBps),
  };
}

export function inspectContainer(r: ContainerRecord): Record<string, unknown> {
  const { config, state, dirs } = r;
  const o = config.options;
  const image = config.imageConfig;
  const entrypoint = o.entrypoint !== undefined ? (o.entrypoint ? [o.entrypoint] : []) : image.entrypoint;
  const cmd = o.command.length > 0 ? o.command : o.entrypoint !== undefined ? [] : image.cmd;
  const argv = [...entrypoint, ...cmd];
  const running = isRunning(r);
  const userMounts = [...o.volumes.map(parseVolumeFlag), ...o.tmpfs.map(parseTmpfsFlag), ...o.mounts.map(parseMountFlag)];
  return {
    Id: config.id,
    Created: config.created,
    Path: argv[0] ?? "",
    Args: argv.slice(1),
    State: {
      Status: state.status,
      Running: running && state.status === "running",
      Paused: state.status === "paused",
      Restarting: false,
      OOMKilled: state.oomKilled ?? false,
      Dead: false,
      Pid: running ? (state.pid ?? 0) : 0,
      ExitCode: state.exitCode ?? 0,
      Error: "",
      StartedAt: state.startedAt ?? ZERO_TIME,
      FinishedAt: state.finishedAt ?? ZERO_TIME,
    },
    Image: config.image,
    Name: `/${config.name}`,
    LogPath: dirs.log,
    HostnamePath: dirs.hostname,
    HostsPath: dirs.hosts,
    ResolvConfPath: dirs.resolvConf,
    Driver: "overlay",
    HostConfig: {
      Binds: o.volumes,
      NetworkMode: o.network,
      AutoRemove: o.rm,
      Privileged: o.privileged,
      ReadonlyRootfs: o.readOnly,
      CapAdd: o.capAdd,
      CapDrop: o.capDrop,
      SecurityOpt: o.securityOpt,
      Tmpfs: Object.fromEntries(o.tmpfs.map((t) => [t.split(":")[0], t.split(":").slice(1).join(":")])),
      Init: o.init,
      Dns: o.dns,
      ...resourcesOf(o.resources ?? {}),
    },
    GraphDriver: {
      Name: "overlay",
      Data: { LowerDir: config.layers.join(":"), UpperDir: dirs.upper, WorkDir: dirs.work, MergedDir: dirs.merged },
    },
    Mounts: userMounts.map((m) => ({
      Type: m.type,
      Source: m.type === "bind" ? m.source : m.type === "volume" ? m.name : "",
      Destination: m.target,
      RW: !m.readonly,
    })),
    Config: {
      Hostname: o.hostname ?? config.id.slice(0, 12),
      User: o.user ?? image.user,
      Env: [...image.env, ...o.env],
      Cmd: cmd,
      Entrypoint: entrypoint,
      WorkingDir: o.workdir ?? image.workingDir,
      Image: config.image,
      Tty: o.tty !== undefined,
      OpenStdin: o.interactive,
    },
    NetworkSettings: networkSettings(dirs.state),
  };
}
