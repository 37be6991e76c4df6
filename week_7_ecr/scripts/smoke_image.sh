#!/usr/bin/env bash
# Start an image of the service, wait for /health, POST one sentence to /predict through the
# mapped port, check the answer's shape, stop the container. On failure: the container's log
# and exit status 1.   usage: scripts/smoke_image.sh IMAGE   (PORT, DOCKER from the environment)
set -euo pipefail
image=${1:?usage: scripts/smoke_image.sh IMAGE}
docker=${DOCKER:-docker}
port=${PORT:-8000}
url="http://127.0.0.1:$port"
name="cola-smoke-$$"

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

"$docker" run -d --name "$name" -p "127.0.0.1:$port:8000" "$image" >/dev/null
for _ in $(seq 60); do
  curl -fsS "$url/health" >/dev/null 2>&1 && break
  sleep 0.5
done
echo "health: $(curl -fsS "$url/health")"
answer=$(curl -fsS -H 'Content-Type: application/json' \
  -d '{"text": "The boy is sleeping."}' "$url/predict")
echo "predict: $answer"
echo "$answer" | python3 -c '
import json, sys
answer = json.load(sys.stdin)
assert answer["label"] in ("acceptable", "unacceptable"), answer
assert 0.0 <= answer["score"] <= 1.0, answer'
