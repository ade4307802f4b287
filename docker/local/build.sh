#!/usr/bin/env bash
# Builds the images with podman on a machine without an image registry (like the development VMs):
#   1. localhost/dirigo-debian:bookworm  Debian minbase from Debian packages (mmdebstrap; cached in .cache)
#   2. localhost/dirigo-node:24          + the Node binary of the `node` npm package this repo pins, and npm
#   3. localhost/dirigo-worker:dev       docker/Containerfile with BASE=localhost/dirigo-node:24
#   4. localhost/dirigo-kafka:<version>  docker/kafka.Containerfile with BASE=localhost/dirigo-debian:bookworm
# Usage: docker/local/build.sh [debian|node|worker|kafka|all]...  (default all). Needs podman, mmdebstrap, and
# `npm ci` (the SDK's dist/, the node binary) and `npm run kafka -- fetch` (the broker's jars) done first.
# Elsewhere build docker/Containerfile and docker/kafka.Containerfile with their default bases instead.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/docker/podman/containers.conf}"
cache="${DIRIGO_CONTAINER_CACHE:-$root/.cache/containers}"
kafka_version="${KAFKA_VERSION:-4.2.2}"
worker_image="${DIRIGO_WORKER_IMAGE:-localhost/dirigo-worker:dev}"
kafka_image="${DIRIGO_KAFKA_IMAGE:-localhost/dirigo-kafka:$kafka_version}"
mkdir -p "$cache"

timed() {
  local name="$1"
  shift
  local began=$SECONDS
  "$@"
  echo "== image $name: $((SECONDS - began)) s" >&2
}

debian() {
  "$root/docker/local/debian.sh" localhost/dirigo-debian:bookworm
}

node_base() {
  local ctx node npm_version
  node="$root/node_modules/node/bin/node"
  [ -x "$node" ] || { echo "no $node: run npm ci first" >&2; exit 1; }
  ctx="$(mktemp -d)"
  cp "$node" "$ctx/node"
  # npm from the registry, at the version of the npm running here (cached in .cache/containers).
  npm_version="$(npm --version)"
  if [ ! -s "$cache/npm-$npm_version.tgz" ]; then
    (cd "$cache" && npm pack --silent "npm@$npm_version" >/dev/null)
  fi
  mkdir "$ctx/npm"
  tar -xzf "$cache/npm-$npm_version.tgz" -C "$ctx/npm" --strip-components=1
  podman build --quiet --layers -f "$root/docker/local/node.Containerfile" \
    --build-arg BASE=localhost/dirigo-debian:bookworm -t localhost/dirigo-node:24 "$ctx" >/dev/null
  rm -rf "$ctx"
}

worker() {
  # This machine's CA bundle, for npm behind a TLS-inspecting proxy (a build secret: not kept in the image).
  local ca=()
  [ -s "${NODE_EXTRA_CA_CERTS:-}" ] && ca=(--secret "id=npm_ca,src=$NODE_EXTRA_CA_CERTS")
  podman build --quiet --layers --format docker -f docker/Containerfile "${ca[@]}" \
    --build-arg BASE=localhost/dirigo-node:24 -t "$worker_image" . >/dev/null
}

kafka() {
  [ -d ".cache/kafka/$kafka_version/libs" ] || { echo "no .cache/kafka/$kafka_version/libs: run npm run kafka -- fetch" >&2; exit 1; }
  podman build --quiet --layers --format docker -f docker/kafka.Containerfile \
    --build-arg BASE=localhost/dirigo-debian:bookworm --build-arg "KAFKA_VERSION=$kafka_version" \
    -t "$kafka_image" . >/dev/null
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(all)
for step in "${steps[@]}"; do
  case "$step" in
    debian) timed debian debian ;;
    node) timed node node_base ;;
    worker) timed worker worker ;;
    kafka) timed kafka kafka ;;
    all)
      timed debian debian
      timed node node_base
      timed worker worker
      timed kafka kafka
      ;;
    *) echo "unknown step: $step (debian, node, worker, kafka, all)" >&2; exit 2 ;;
  esac
done
