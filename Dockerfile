# syntax=docker/dockerfile:1
# imagepin: one image for the service (imagepin-server) and its clients (imagepin: the command
# and the admission webhook). Multi-stage: build tools stay in the first stage; the runtime
# stage holds a virtualenv and runs as an unprivileged user on a read-only root filesystem.
#
# BASE is any Debian-like image with python3 (3.11+) and python3-venv: the default is the
# official Python image; offline builds pass a base they made (see scripts/build-image).
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python3 -m venv /opt/imagepin
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY clients ./clients
COPY service ./service
# Both distributions in one resolution: the client (with its command and webhook) and the server.
RUN /opt/imagepin/bin/pip install "./clients/python[cli,webhook]" . \
    && /opt/imagepin/bin/python -m compileall -q /opt/imagepin

FROM ${BASE} AS runtime
# Bytecode is compiled at build time; nothing needs writing under a read-only root.
ENV PATH=/opt/imagepin/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IMAGEPIN_LISTEN=0.0.0.0:50051 \
    IMAGEPIN_DATABASE_URL=sqlite:////data/imagepin.db
RUN groupadd --system --gid 10001 imagepin \
    && useradd --system --uid 10001 --gid imagepin --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin imagepin \
    && mkdir -p /data \
    && chown imagepin:imagepin /data
COPY --from=build /opt/imagepin /opt/imagepin
USER 10001:10001
VOLUME ["/data"]
EXPOSE 50051 8443
ENTRYPOINT []
CMD ["imagepin-server"]
