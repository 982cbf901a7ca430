# syntax=docker/dockerfile:1
# Two stages: a full Go toolchain builds a static binary; the image that
# ships holds that binary and nothing else (no shell, no libc), running as a
# non-root user.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# CGO_ENABLED=0: a static binary that needs no libc in the final image.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/portcullis ./cmd/portcullis \
 && /out/portcullis version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/portcullis /usr/local/bin/portcullis
# A configuration must be mounted here (a ConfigMap in Kubernetes). In a
# container, set server.admin_listen to ":9090" so the probes and Prometheus
# can reach it; the default binds loopback only.
WORKDIR /etc/portcullis
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve", "-config", "/etc/portcullis/config.yaml"]
