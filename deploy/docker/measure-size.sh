#!/bin/sh
# The image's size without a container engine: build the runtime stage's one added layer (the
# trimmed virtual environment) the way the Dockerfile does, in a scratch folder, and add the
# base image's published size.
#
#   deploy/docker/measure-size.sh            # the default image
#   EXTRAS=chart deploy/docker/measure-size.sh
#
# Needs python3.11 (the base image's minor version: the same wheels) and strip (binutils).
# BASE_MIB: the Dockerfile's base, python:3.11-slim-trixie (3.11.16, linux/amd64): "Virtual
# Size ~ 124.85 Mb" (MiB: bytes / 1024 / 1024), as the Docker official images publish it in
# docker-library/repo-info, repos/python/local/3.11.16-slim-trixie.md (image created
# 2026-08-13). The bookworm variant is 130.01.
# The other layers (the user, the environment variables) add a few kilobytes.
set -eu
BASE_MIB="${BASE_MIB:-124.85}"
EXTRAS="${EXTRAS:-}"
PYTHON="${PYTHON:-python3.11}"
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# the build context, as .dockerignore lets it through
mkdir -p "$work/src/deploy/docker" "$work/src/requirements" "$work/src/config/sandbox"
cp "$root/pyproject.toml" "$root/README.md" "$work/src/"
cp "$root/requirements/runtime.txt" "$root/requirements/chart.txt" "$work/src/requirements/"
cp -r "$root/worker" "$work/src/worker"
cp "$root/config/policies.yaml" "$root/config/handoff-guard.env.example" "$work/src/config/"
cp -r "$root/config/templates" "$work/src/config/templates"
cp "$root/config/sandbox/demo-site.yaml" "$work/src/config/sandbox/"
find "$work/src" -name __pycache__ -type d -prune -exec rm -rf {} +

"$PYTHON" -m venv --without-pip "$work/opt/handoff-guard"
(cd "$work/src" && PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 \
    "$PYTHON" -m pip --python "$work/opt/handoff-guard/bin/python" install --quiet --no-compile \
        --require-hashes -r "requirements/${EXTRAS:-runtime}.txt" &&
    "$PYTHON" -m pip --python "$work/opt/handoff-guard/bin/python" install --quiet --no-compile \
        --no-deps .)
sh "$root/deploy/docker/slim-venv.sh" "$work/opt/handoff-guard"

# the layer as a registry stores it (gzip of a tar), and as it lands on disk
bytes=$(du -sb "$work/opt/handoff-guard" | cut -f1)
gz=$(tar -C "$work" -cf - opt | gzip -6 | wc -c)
"$PYTHON" - "$bytes" "$gz" "$BASE_MIB" "${EXTRAS:-none}" <<'PY'
import sys
layer, gz, base, extras = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
mib = 1024 * 1024
print(f"extras: {extras}")
print(f"venv layer: {layer / mib:.1f} MiB on disk, {gz / mib:.1f} MiB gzip")
print(f"base python:3.11-slim-trixie: {base:.1f} MiB (published)")
total = base * mib + layer
print(f"image: {total / mib:.1f} MiB = {total / 1e6:.1f} MB (docker images prints MB)")
PY
