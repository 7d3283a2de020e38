#!/usr/bin/env bash
# The test command (`npm test`): set the machine up, build dist/box, run every test tier, and end
# with the one line CI reads: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
node_modules/.bin/bun scripts/build.ts || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

# Every test runs inside a network namespace of its own: the default bridge, its NAT table,
# the forwarding switches and pasta's taps are made there and vanish with it, and nothing the
# tests send can leave the machine. A veth pair whose both ends stay inside, with a default route
# to a gateway nobody answers for, gives rootless pasta the "host" interface it copies (a dummy
# device would do, but its module is not always there). nsenter (not `ip netns exec`,
# which remounts /sys and would hide the cgroup hierarchies) joins only the network namespace.
ns="box-test-$$"
ip netns add "$ns" || { echo "cannot create the test network namespace"; echo "0 passed, 1 failed"; exit 1; }
trap 'ip netns del "$ns" 2>/dev/null' EXIT
ip -n "$ns" link set lo up
ip -n "$ns" link add uplink0 type veth peer name uplink1
ip -n "$ns" addr add 192.0.2.1/24 dev uplink0
ip -n "$ns" -6 addr add 2001:db8::1/64 dev uplink0 nodad
ip -n "$ns" link set uplink0 up
ip -n "$ns" link set uplink1 up
ip -n "$ns" route add default via 192.0.2.254 dev uplink0
ip -n "$ns" -6 route add default via 2001:db8::fe dev uplink0

log=$(mktemp)
# bun prints its per-test lines and summary on stderr.
nsenter --net="/run/netns/$ns" node_modules/.bin/bun test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

count() { grep -Eo "^ *[0-9]+ $1\$" "$log" | tail -1 | tr -dc '0-9'; }
pass=$(count pass); fail=$(count fail); skip=$(count skip)
pass=${pass:-0}; fail=${fail:-0}; skip=${skip:-0}
rm -f "$log"
# A runner that died without a summary is a failure even if it counted nothing.
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "${pass} passed, ${fail} failed, ${skip} skipped"
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
