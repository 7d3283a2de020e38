#!/usr/bin/env bash
# The test command (`npm test`): set the machine up, build dist/box, run every test tier, and end
# with the one line CI reads: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
node_modules/.bin/bun scripts/build.ts || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

# Every test runs inside a network namespace of its own (see scripts/in-netns.sh).
log=$(mktemp)
# bun prints its per-test lines and summary on stderr.
bash scripts/in-netns.sh node_modules/.bin/bun test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

count() { grep -Eo "^ *[0-9]+ $1\$" "$log" | tail -1 | tr -dc '0-9'; }
pass=$(count pass); fail=$(count fail); skip=$(count skip)
pass=${pass:-0}; fail=${fail:-0}; skip=${skip:-0}
rm -f "$log"
# A runner that died without a summary is a failure even if it counted nothing.
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "${pass} passed, ${fail} failed, ${skip} skipped"
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
