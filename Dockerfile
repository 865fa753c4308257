# syntax=docker/dockerfile:1
# tap-optimizer images. Two targets from one build:
#   docker build --target operator -t ghcr.io/tap-optimizer/tap-optimizer:0.1.0 .
#   docker build --target function -t function-tap-optimizer-runtime .   (the runtime the Crossplane
#   package embeds: .github/workflows/release.yaml, `crossplane xpkg build --embed-runtime-image`)
#
# The base is pinned by full version. Pin it by digest too (python:3.11.14-slim-bookworm@sha256:...)
# where a registry can be reached to resolve one; it could not be where this file was written.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: a self-contained virtualenv with the package and its pinned dependencies --------
# The product package only: the local stand-ins (local/, the tests' and the demo's) are neither in
# the build context nor among its dependencies.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY operator/ operator/
# Every dependency is pinned in pyproject.toml; the installer itself is not needed afterwards.
RUN /opt/venv/bin/pip install --no-cache-dir . \
    && /opt/venv/bin/pip uninstall --yes pip

# --- runtime: the venv only, on the same base, as a numeric non-root user ------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.source="https://github.com/tap-optimizer/tap-optimizer" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.title="tap-optimizer" \
      org.opencontainers.image.description="Kubernetes operator that right-sizes a Crossplane-declared AWS platform, one SLO-gated, reversible phase at a time."
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
# 65532 is the conventional "nonroot" id; Kubernetes' runAsNonRoot needs it numeric to verify.
USER 65532:65532
WORKDIR /tmp

# --- operator: `tap-optimizer run`; the chart adds the scope, probes and HTTP flags -----------
FROM runtime AS operator
EXPOSE 8000 8080
# For `docker run`; in Kubernetes the chart's probes on the same endpoint are what count.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["tap-optimizer", "run"]
CMD ["--all-namespaces"]

# --- function: the Crossplane composition function, gRPC over TLS on 9443 --------------------
FROM runtime AS function
LABEL org.opencontainers.image.title="tap-optimizer-function" \
      org.opencontainers.image.description="Crossplane composition function that renders a TapPlatform into provider-upjet-aws managed resources."
EXPOSE 9443
# gRPC has no HTTP health endpoint here: the check is that the server accepts connections.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["python", "-c", "import socket; socket.create_connection(('127.0.0.1', 9443), timeout=4).close()"]
ENTRYPOINT ["tap-optimizer", "function", "--tls-certs-dir", "/tls/server"]
