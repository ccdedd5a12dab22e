# syntax=docker/dockerfile:1
#
# relaysim (the entrypoint) and conform, static binaries on distroless.
#
#   docker build -t relaykit .
#   docker run --rm -p 127.0.0.1:8765:8765 -e RELAYSIM_CONTROL_TOKEN=s3cret relaykit
#
# Inside the container relaysim listens on 0.0.0.0:8765, so it refuses to
# start without a control token (RELAYSIM_REQUIRE_CONTROL_TOKEN=true below):
# a port published with -p is reachable from every host interface unless
# bound to 127.0.0.1. Dev mode is off there (any bearer may not provision);
# give identity tokens with -e RELAYSIM_IDENTITY_TOKEN=... if gateways must
# provision. docs/relaysim.md#docker has the details.
#
# Release builds stamp the version (relaysim --version):
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg BUILD_TIME=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t relaykit .

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Dependencies first, so that a source change reuses their layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
ARG REVISION=""
ARG BUILD_TIME=""
ENV CGO_ENABLED=0
RUN go build -trimpath -ldflags "-s -w \
      -X github.com/relaykit/relaykit/internal/buildinfo.version=${VERSION} \
      -X github.com/relaykit/relaykit/internal/buildinfo.revision=${REVISION} \
      -X github.com/relaykit/relaykit/internal/buildinfo.buildTime=${BUILD_TIME}" \
      -o /out/ ./cmd/relaysim ./cmd/conform \
 && mkdir -p /out/data

# distroless/static: CA certificates, /etc/passwd with nonroot, tzdata; no
# shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/relaysim /out/conform /usr/local/bin/
# A directory the nonroot user (65532) may write, for --store file:/data/state
# on a mounted volume.
COPY --from=build --chown=65532:65532 /out/data /data
ENV RELAYSIM_ADDR=0.0.0.0:8765 \
    RELAYSIM_REQUIRE_CONTROL_TOKEN=true
EXPOSE 8765
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/relaysim"]
