# amtsbote container image: built with cgo against libxml2, run as an unprivileged user.
#   docker build -t amtsbote .
#   docker run -p 8080:8080 -v /srv/amtsbote/etc:/etc/amtsbote:ro -v /srv/amtsbote/data:/var/lib/amtsbote amtsbote
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libxml2-dev pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/amtsbote ./cmd/amtsbote

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libxml2 ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system amtsbote && useradd --system --gid amtsbote --home-dir /var/lib/amtsbote --shell /usr/sbin/nologin amtsbote \
    && install -d -o amtsbote -g amtsbote -m 0750 /var/lib/amtsbote
COPY --from=build /out/amtsbote /usr/local/bin/amtsbote
# The bundled XÖV schema sets and the demo, for a first start; mount your own configuration.
COPY fixtures /usr/share/amtsbote/fixtures
USER amtsbote:amtsbote
WORKDIR /var/lib/amtsbote
ENV AMTSBOTE_STORAGE_DATA_DIR=/var/lib/amtsbote/data \
    AMTSBOTE_SERVER_LISTEN=0.0.0.0:8080 \
    AMTSBOTE_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/amtsbote"]
CMD ["serve", "--config", "/etc/amtsbote/amtsbote.yaml"]
