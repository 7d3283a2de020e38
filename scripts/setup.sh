#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (root, node and npm present) to build box and run its
# tests. Idempotent: every step checks before it acts, so running it twice costs seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  busybox-static   # the seed of the built-in `base` image and of test images
  gcc libc6-dev musl-tools  # compile the shim (ffi/shim/*.c) at build time, statically with musl
  uidmap           # newuidmap/newgidmap for rootless subordinate id ranges
  crun podman skopeo buildah docker-registry  # peers for interoperability tests and benchmarks
  iproute2 hyperfine tmux
  python3 zstd procps curl  # tests: a PTY driver (test/helpers/terminal.py), zstd layers, pgrep, HTTP from namespaces
  passt nftables   # rootless networking (pasta) and NAT / published ports for bridges
  criu slirp4netns # checkpoint/restore; the rootless network fallback
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The unprivileged user the rootless tests run as, with subordinate id ranges like a desktop
# user gets from adduser.
TEST_USER=boxtest
if ! id "$TEST_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$TEST_USER"
fi
grep -q "^$TEST_USER:" /etc/subuid 2>/dev/null || echo "$TEST_USER:200000:65536" >>/etc/subuid
grep -q "^$TEST_USER:" /etc/subgid 2>/dev/null || echo "$TEST_USER:200000:65536" >>/etc/subgid

# Without udev these device nodes are root-only; Debian's udev rules make them 0666, which
# rootless networking (pasta, slirp4netns) and fuse-overlayfs need.
for dev in /dev/net/tun /dev/fuse; do
  [ -e "$dev" ] && chmod 0666 "$dev"
done
exit 0
