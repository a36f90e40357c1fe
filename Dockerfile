# netpol-learner: `learn` in a cluster (see deploy/), or any other subcommand.
#
#   docker build -t netpol-learner .
#   docker run --rm -v "$PWD/data:/data" netpol-learner learn --state /data/state.db \
#       --output-dir /data/proposal --server tls://hubble-relay.example:443
#
# Runs as a non-root user and writes only to /data (state and proposal; mount a volume there)
# and /tmp, so it works with a read-only root filesystem.

# Pinned by digest (a tag can be re-pushed): update tag and digest together.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# A C compiler for the compiled parts (collectors/hubble/_linescan.c, _wirekey.c); only this stage has it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY learner ./learner
COPY collectors ./collectors
COPY outputs ./outputs
# Dependencies at the exact versions of constraints.txt (the lock), so two builds agree.
# A virtualenv, so the runtime stage copies one self-contained directory; byte-code is compiled
# here because the runtime root filesystem is read-only.
RUN python -m venv /opt/netpol-learner \
    && /opt/netpol-learner/bin/pip install -c constraints.txt . \
    && /opt/netpol-learner/bin/python -m compileall -q /opt/netpol-learner

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="netpol-learner" \
      org.opencontainers.image.description="Learn least-privilege Kubernetes network policies from observed flows" \
      org.opencontainers.image.licenses="Apache-2.0"
# git and ssh: learn --git-repo commits the proposal to a branch with the real git binary.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 netpol-learner \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin netpol-learner \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=build /opt/netpol-learner /opt/netpol-learner
ENV PATH=/opt/netpol-learner/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GRPC_VERBOSITY=ERROR
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9090
ENTRYPOINT ["netpol-learner"]
CMD ["--help"]
