#!/usr/bin/env bash
# The chat service's CPU time per line said, on the compose stack of a checkout.
#
#   benchmarks/chat_cpu.sh [CHECKOUT]     # default: this one; needs scripts/prepare-offline
#
# Starts the checkout's stack (its images built from its code) and reads the chat
# replicas' CPU time (their Python processes' user + system time: not the containers'
# cgroups, where the healthcheck's own Python process every 10 s is noise) over 10 idle
# seconds, then over `wslab bench`: 25 members of one room, all of them saying lines (4 a
# second each), 100 a second in all, for 10 s. Prints the bench's figures and the chat's
# CPU microseconds per line, idle time subtracted.
# To compare two commits, run it on a worktree of each (copy wheels/ into it first).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "${1:-$here}"
. scripts/offline-env
docker compose up --build -d --wait chat gateway redis stocks >/dev/null
trap 'docker compose down >/dev/null 2>&1' EXIT
usage() {  # Total CPU microseconds of the chat replicas' Python processes, from /proc.
    total=0
    for id in $(docker compose ps -q chat); do
        init=$(docker inspect -f '{{.State.Pid}}' "$id")  # docker-init; Python is its child
        for pid in $(pgrep -P "$init"); do
            ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
            total=$(( total + ticks * 1000000 / $(getconf CLK_TCK) ))
        done
    done
    echo "$total"
}
start=$(usage); sleep 10; idle=$(( $(usage) - start ))
start=$(usage)
"$here/.venv/bin/wslab" bench ws://localhost:4502 -c 25 --senders 25 --rate 100 \
    --duration 10 --warmup 0.1 --json > "${TMPDIR:-/tmp}/chat_cpu.json" || true
busy=$(( $(usage) - start ))
"$here/.venv/bin/python" - "$busy" "$idle" "${TMPDIR:-/tmp}/chat_cpu.json" <<'PY'
import json, sys
busy, idle, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
report = json.load(open(path))
lines, latency = report["sent"], report["latency_ms"]
print(f"lines {lines}, lost {report['lost']}, errors {report['errors']}")
print(f"latency p50 {latency['p50']} ms, p99 {latency['p99']} ms")
print(f"chat CPU per line: {(busy - idle) / max(lines, 1):.0f} us (idle: {idle / 10:.0f} us/s)")
PY
