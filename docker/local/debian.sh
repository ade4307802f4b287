#!/usr/bin/env bash
# Makes the Debian base image from Debian packages (no image registry needed): mmdebstrap's minbase of
# bookworm, imported as localhost/dirigo-debian:bookworm. The root file system is cached in
# $DIRIGO_CONTAINER_CACHE (default <repo>/.cache/containers), so later builds only import it (4 s).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${DIRIGO_CONTAINER_CACHE:-$root/.cache/containers}"
image="${1:-localhost/dirigo-debian:bookworm}"
mkdir -p "$cache"
tar="$cache/debian-bookworm-minbase.tar"
if podman image exists "$image"; then
  echo "$image exists" >&2
  exit 0
fi
if [ ! -s "$tar" ]; then
  echo "mmdebstrap: Debian bookworm minbase into $tar" >&2
  # The .tar name tells mmdebstrap the output format; rename once complete.
  mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm "$cache/partial-debian.tar"
  mv "$cache/partial-debian.tar" "$tar"
fi
podman import --change 'CMD ["/bin/bash"]' "$tar" "$image" >/dev/null
echo "$image imported from $tar" >&2
