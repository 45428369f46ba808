#!/bin/sh
# Trim a virtual environment for the runtime image (the Dockerfile's build stage runs this;
# so does deploy/docker/measure-size.sh, which is how the README's image size was measured).
#
# - no bytecode: the runtime writes it under PYTHONPYCACHEPREFIX (/tmp) on first import, so
#   the image does not carry ~36 MB of .pyc files for a start that is ~1 s of CPU slower;
# - no test suites that packages ship (never imported at run time);
# - no debug symbols in shared libraries (strip --strip-debug keeps every symbol the dynamic
#   linker needs; --strip-unneeded would save 1 MB more at more risk).
set -eu
venv="${1:?usage: slim-venv.sh VENV}"
site=$(find "$venv/lib" -maxdepth 2 -type d -name site-packages | head -n 1)
find "$venv" -depth -type d -name __pycache__ -exec rm -rf {} +
find "$site" -mindepth 2 -type d \( -name tests -o -name test \) -prune -exec rm -rf {} +
find "$site" -type f \( -name '*.so' -o -name '*.so.*' \) -exec strip --strip-debug {} +
