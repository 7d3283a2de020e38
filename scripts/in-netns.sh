#!/usr/bin/env bash
# Run a command inside a fresh network namespace made for it, then delete the namespace:
#   bash scripts/in-netns.sh node_modules/.bin/bun test test/e2e/network.test.ts
# The default bridge, its NAT table, the forwarding switches and pasta's taps are made there and
# vanish with it, and nothing sent can leave the machine. A veth pair whose both ends stay inside,
# with a default route to a gateway nobody answers for, gives rootless pasta the "host" interface
# it copies (a dummy device would do, but its module is not always loaded). nsenter (not
# `ip netns exec`, which remounts /sys and would hide the cgroup hierarchies) joins only the
# network namespace.
set -uo pipefail
ns="box-test-$$"
ip netns add "$ns" || { echo "cannot create a network namespace (run as root)" >&2; exit 125; }
trap 'ip netns del "$ns" 2>/dev/null' EXIT
ip -n "$ns" link set lo up
ip -n "$ns" link add uplink0 type veth peer name uplink1
ip -n "$ns" addr add 192.0.2.1/24 dev uplink0
ip -n "$ns" -6 addr add 2001:db8::1/64 dev uplink0 nodad
ip -n "$ns" link set uplink0 up
ip -n "$ns" link set uplink1 up
ip -n "$ns" route add default via 192.0.2.254 dev uplink0
ip -n "$ns" -6 route add default via 2001:db8::fe dev uplink0
nsenter --net="/run/netns/$ns" "$@"
