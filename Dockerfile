# syntax=docker/dockerfile:1
# Handoff Guard's container image: `docker build -t handoff-guard .` (README "Deploying").
#
# Two stages: `build` installs the worker into a virtual environment and trims it; the runtime
# stage is the same slim Python base with that environment copied in, a non-root user, and
# nothing else (no pip, no compiler, no policy file: that is mounted from outside).
# --build-arg EXTRAS=chart adds the report's PNG chart (matplotlib: 99 MiB more, trimmed).

ARG PYTHON_IMAGE=python:3.11.16-slim-trixie

FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
# strip (binutils) trims the shared libraries; it stays in this stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The lock first (its layer is cached while only the code changes): every dependency pinned
# with its hashes (requirements/runtime.txt, or chart.txt with EXTRAS=chart; `make lock`).
COPY requirements/runtime.txt requirements/chart.txt ./requirements/
COPY pyproject.toml README.md ./
COPY worker ./worker
# the shipped policy file, its templates, the env example and the demo site: the package
# installs them under share/handoff-guard (`handoff-guard demo` runs in the image; the policy
# the worker reads is still the one mounted at /etc/handoff-guard)
COPY config/policies.yaml config/handoff-guard.env.example ./config/
COPY config/templates ./config/templates
COPY config/sandbox/demo-site.yaml ./config/sandbox/
COPY deploy/docker/slim-venv.sh /usr/local/bin/slim-venv
# The lock's versions and hashes, then the worker itself with --no-deps: nothing is resolved
# here.
# hadolint ignore=DL3013
RUN python -m venv --without-pip /opt/handoff-guard \
    && pip --python /opt/handoff-guard/bin/python install --no-compile --require-hashes \
       -r "requirements/${EXTRAS:-runtime}.txt" \
    && pip --python /opt/handoff-guard/bin/python install --no-compile --no-deps . \
    && slim-venv /opt/handoff-guard

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="Handoff Guard" \
      org.opencontainers.image.description="Keeps project managers from doing Sales' work before a customer's contract is signed (Jira + Confluence worker)." \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric id, so Kubernetes' runAsNonRoot can check it and a mounted volume can be
# given to it; no login shell, no lastlog entry (--no-log-init keeps the layer small).
RUN groupadd --system --gid 10001 handoff-guard \
    && useradd --system --no-log-init --uid 10001 --gid handoff-guard \
       --home-dir /var/lib/handoff-guard --create-home --shell /usr/sbin/nologin handoff-guard
COPY --from=build /opt/handoff-guard /opt/handoff-guard
# The policy file (and its templates/ folder) is mounted at /etc/handoff-guard; the SQLite
# store, when no PostgreSQL URL is given, lives in the user's home (mount a volume there).
ENV PATH=/opt/handoff-guard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONPYCACHEPREFIX=/tmp/pycache \
    HANDOFF_GUARD_CONFIG=/etc/handoff-guard/policies.yaml \
    HANDOFF_GUARD_STATE=/var/lib/handoff-guard/handoff-guard.db \
    HANDOFF_GUARD_HTTP_HOST=0.0.0.0 \
    HANDOFF_GUARD_HTTP_PORT=9464 \
    HANDOFF_GUARD_LOG_FORMAT=json
WORKDIR /var/lib/handoff-guard
USER 10001:10001
EXPOSE 9464
# The worker finishes the tickets in hand on SIGTERM and exits within 10 s: give it 20
# (docker stop -t 20, compose's stop_grace_period, Kubernetes' terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
# /livez: the process and its scheduler are alive (never fails on config or Jira trouble).
# slim images have no curl: Python's urllib asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('HANDOFF_GUARD_HTTP_PORT', '9464') + '/livez', timeout=4)"]
ENTRYPOINT ["handoff-guard"]
CMD ["run"]
