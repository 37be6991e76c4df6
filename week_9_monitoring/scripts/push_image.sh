#!/usr/bin/env bash
# Push IMAGE; with --model-tag also IMAGE-model-<the first 12 hex digits of the model's sha256>,
# read from the image's label (so the tag names the model inside the image, whatever the
# working tree holds now). The registry's tags are immutable, so a push must be re-runnable:
# a tag that the registry already has is not pushed again. If IMAGE is there (an earlier run
# of the same commit pushed it), the registry's image is kept and the model tag follows it; a
# model tag that already names another image is an error.
#   usage: scripts/push_image.sh IMAGE [--model-tag]   (DOCKER from the environment)
set -euo pipefail
image=${1:?usage: scripts/push_image.sh IMAGE [--model-tag]}
docker=${DOCKER:-docker}
label=org.mlops-basics.model.sha256

in_registry() { "$docker" pull --quiet "$1" >/dev/null 2>&1; }
image_id() { "$docker" image inspect --format '{{.Id}}' "$1"; }
model_of() {
  local model
  model=$("$docker" image inspect --format "{{ index .Config.Labels \"$label\" }}" "$1")
  if ! [[ $model =~ ^[0-9a-f]{64}$ ]]; then
    echo "error: $1 has no label $label with the model's sha256: build it with make image" >&2
    exit 2
  fi
  echo "${model:0:12}"
}

[ "${2:-}" != "--model-tag" ] || model_of "$image" >/dev/null  # before anything is pushed
if in_registry "$image"; then
  echo "$image: already in the registry (pushed by an earlier run), kept"
else
  "$docker" push "$image"
fi
[ "${2:-}" = "--model-tag" ] || exit 0

model_tag="$image-model-$(model_of "$image")"
pushed=$(image_id "$image")
if in_registry "$model_tag"; then
  if [ "$(image_id "$model_tag")" != "$pushed" ]; then
    echo "error: $model_tag already names another image; tags are immutable" >&2
    exit 1
  fi
  echo "$model_tag: already in the registry, names the same image"
else
  "$docker" tag "$image" "$model_tag"
  "$docker" push "$model_tag"
fi
