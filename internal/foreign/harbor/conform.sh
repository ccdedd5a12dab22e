#!/usr/bin/env bash
# conform.sh runs the connector conformance suite against harbor: once with
# the control API, once credentials-only, and then once per planted
# deviation (focused on its requirement, then the whole suite). It is a
# manual tool, not part of CI: a full sweep takes about ten minutes.
#
#   internal/foreign/harbor/conform.sh [deviation ...]    # default: every one
#
# Everything goes to a fresh temporary directory (printed at the end), so
# runs of several people on one machine never share binaries or reports.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=$(mktemp -d /tmp/harbor-conform.XXXXXX)
cd "$root"
go build -o "$out/conform" ./cmd/conform
go build -o "$out/harbor" ./internal/foreign/harbor/cmd/harbor
cd "$out"

start() { # start NAME ARGS...: runs harbor, waits for its env block
  local name=$1; shift
  ./harbor -identity-token idp-harbor "$@" > "env-$name.txt" 2>/dev/null &
  pid=$!
  for _ in $(seq 100); do grep -q '^GATEWAY_RELAY_PLATFORMS' "env-$name.txt" 2>/dev/null && break; sleep 0.1; done
  url=$(grep '^HARBOR_URL' "env-$name.txt" | cut -d= -f2)
  ctl=$(grep '^HARBOR_CONTROL_URL' "env-$name.txt" | cut -d= -f2 || true)
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
suite() { # suite NAME ARGS...: one conform run, its exit code kept
  local name=$1; shift
  local t0=$SECONDS
  ./conform connector -q --identity-token idp-harbor --chat-id harbor-lobby "$@" \
    --json "$name.json" --report "$name.md" > "$name.out" 2>&1 && rc=0 || rc=$?
  printf '%-40s exit %d, %ds: %s\n' "$name" "$rc" $((SECONDS - t0)) "$(grep -E '^  MUST' "$name.out" | head -1 | xargs)"
}

start control
suite control --url "$url" --control "$ctl"
suite control-default-chat --url "$url" --control "$ctl" --chat-id ""
stop
start creds -no-control -gateway-id harbor-fixed -secret fixed-secret-0123
suite creds --url "$url" --gateway-id harbor-fixed --secret fixed-secret-0123 \
  --platform harbor-sms --platform harbor-mail \
  --feature policy --feature media --feature provision --feature enroll
stop

devs=("$@")
if [ ${#devs[@]} -eq 0 ]; then
  mapfile -t devs < <(./harbor -list-deviations | awk '{print $1}')
fi
for d in "${devs[@]}"; do
  req=$(./harbor -list-deviations | awk -v d="$d" '$1 == d {print $2}')
  start "$d" -deviation "$d"
  suite "focus-$d" --url "$url" --control "$ctl" --focus "$req"
  suite "full-$d" --url "$url" --control "$ctl"
  stop
done
echo "reports in $out (compare full-<deviation>.json with control.json)"
