#!/usr/bin/env bash
# Start an image, ask it for one prediction through the mapped port, check the answer's shape,
# stop the container. On failure: the container's log and exit status 1.
#   scripts/smoke_image.sh IMAGE            the service: wait for /health, POST /predict
#   scripts/smoke_image.sh --lambda IMAGE   a Lambda image: one direct invocation through the
#                                           Runtime Interface Emulator (port 8080)
# PORT and DOCKER come from the environment.
set -euo pipefail
lambda=false
if [ "${1:-}" = "--lambda" ]; then lambda=true; shift; fi
image=${1:?usage: scripts/smoke_image.sh [--lambda] IMAGE}
docker=${DOCKER:-docker}
port=${PORT:-8000}
name="cola-smoke-$$"
sentence='{"text": "The boy is sleeping."}'

cleanup() {
  status=$?
  if [ "$status" -ne 0 ]; then
    echo "smoke test failed; the container's log:" >&2
    "$docker" logs "$name" 2>&1 | tail -n 20 >&2 || true
  fi
  "$docker" rm -f "$name" >/dev/null 2>&1 || true
  exit "$status"
}
trap cleanup EXIT

if $lambda; then
  "$docker" run -d --name "$name" -p "127.0.0.1:$port:8080" "$image" >/dev/null
  url="http://127.0.0.1:$port/2015-03-31/functions/function/invocations"
  answer=""
  for _ in $(seq 60); do
    answer=$(curl -fsS -d "$sentence" "$url" 2>/dev/null) && break
    sleep 0.5
  done
  echo "invoke: $answer"
else
  "$docker" run -d --name "$name" -p "127.0.0.1:$port:8000" "$image" >/dev/null
  url="http://127.0.0.1:$port"
  for _ in $(seq 60); do
    curl -fsS "$url/health" >/dev/null 2>&1 && break
    sleep 0.5
  done
  echo "health: $(curl -fsS "$url/health")"
  answer=$(curl -fsS -H 'Content-Type: application/json' -d "$sentence" "$url/predict")
  echo "predict: $answer"
fi
echo "$answer" | python3 -c '
import json, sys
answer = json.load(sys.stdin)
assert answer["label"] in ("acceptable", "unacceptable"), answer
assert 0.0 <= answer["score"] <= 1.0, answer'
