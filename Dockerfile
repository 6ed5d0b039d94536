# Bulwark's container image: a static binary on a distroless base, run as
# a non-root user with nothing else in the image (no shell, no package
# manager). Build: docker build --build-arg VERSION=$(git describe --tags --always) -t bulwark .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/bulwark-k8s/bulwark/internal/cli.Version=${VERSION}" \
      -o /out/bulwark ./cmd/bulwark

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bulwark /usr/local/bin/bulwark
# The nonroot user of the base image; bulwark's manifests also set
# runAsNonRoot, a read-only root filesystem and drop every capability.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/bulwark"]
CMD ["serve", "--admission"]
