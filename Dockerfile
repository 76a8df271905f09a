# parleyd in a container: a static, cgo-free binary on a minimal base, run
# as a non-root user, its data on a volume. docs/operations.md has the run
# command; cmd/parleyd/deploy_test.go keeps this file true to the code.
#
#   docker build -t parleyd .
#   docker run -d -p 8443:8443 -v parley-data:/data \
#     -e PARLEY_ACME_DOMAIN=chat.example.com parleyd
#   (or mount a certificate and give PARLEY_TLS_CERT and PARLEY_TLS_KEY)

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/parleyd ./cmd/parleyd \
 && mkdir -m 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/parleyd /usr/local/bin/parleyd
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8443
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/parleyd", "health", "--listen", ":8443"]
ENTRYPOINT ["/usr/local/bin/parleyd", "--data", "/data", "--listen", ":8443", "--log-format", "json"]
