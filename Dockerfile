# blindvault container image.
#
#   docker build -t blindvault .
#   docker run --rm -p 127.0.0.1:8080:8080 -v blindvault-data:/data blindvault
#
# Two stages: `build` compiles with the pinned Rust toolchain, the runtime stage holds only the
# binary. No secret is baked in: the JWT key, database and S3 credentials come from the
# environment at run time (see README "Configuration"); with none, the embedded deployment
# (SQLite + files) keeps everything, including a generated jwt.key, in the /data volume.
# Checked by scripts/check-container (hadolint and the contract this file promises).

############################################################################################
# web: the web vault page (web/) with the TypeScript SDK (clients/js/), bundled by esbuild
# with Debian's Node.js. The build stage embeds web/dist in the binary, so what the image
# serves is built from the sources in this context, not taken from the committed copy.
FROM debian:bookworm-slim AS web
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src/clients/js
COPY clients/js/package.json clients/js/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
WORKDIR /src
COPY clients/js/src ./clients/js/src
COPY web/build.mjs ./web/
COPY web/src ./web/src
RUN npm --prefix web run build

############################################################################################
# build: rustc 1.95 (Cargo.toml's rust-version) on the same Debian release as the runtime,
# so the binary's glibc requirement is met there.
FROM rust:1.95-bookworm AS build
WORKDIR /src

# 1. Dependencies only, in their own layer: rebuilt when Cargo.toml or Cargo.lock change, not
#    on every source edit. Stub targets stand in for src/ (the manifest names src/lib.rs and
#    src/main.rs explicitly). `cargo clean -p blindvault` then drops the stub's own artifacts
#    and fingerprints, so step 2 always recompiles the crate itself: otherwise the real
#    sources, whose copied mtimes may predate the stub build, could be taken as up to date.
COPY Cargo.toml Cargo.lock build.rs ./
# The client SDK is a workspace member (and the CLI's dependency): small, and rarely changed.
COPY crates ./crates
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && cargo clean --release --locked --package blindvault \
    && rm -rf src

# 2. The crate. `sqlx::migrate!` embeds migrations/ at compile time, so it must be here before
#    this build (and nothing reads it at run time). Queries are not compile-time checked, so no
#    database is needed to build.
COPY src ./src
COPY migrations ./migrations
# build.rs embeds the web page's files from web/dist.
COPY --from=web /src/web/dist ./web/dist
RUN cargo build --release --locked \
    && install -D -m 0755 target/release/blindvault /out/blindvault

############################################################################################
# runtime: debian:bookworm-slim rather than distroless/cc. The binary needs only glibc,
# libgcc_s and CA certificates (TLS is rustls with aws-lc, statically linked; no OpenSSL),
# which distroless/cc would also give, and in fewer megabytes. But a HEALTHCHECK needs a
# program in the image that can make an HTTP request, `blindvault` has no health subcommand,
# and distroless has no shell or HTTP client; slim plus curl (no recommends) is the smallest
# dependable way to a working HEALTHCHECK, and keeps a shell for debugging. (Backups need no
# PostgreSQL client: the server snapshots its database itself.)
FROM debian:bookworm-slim AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="blindvault" \
      org.opencontainers.image.description="Zero-knowledge encrypted-blob gateway: the server stores only ciphertext and Argon2id(auth hash)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# Versions are not pinned on purpose: bookworm's archive keeps only the current version of a
# package, so a pin breaks the build at the next security update; the base tag decides.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 blindvault \
    && useradd --no-log-init --uid 10001 --gid 10001 \
         --home-dir /home/blindvault --create-home --shell /usr/sbin/nologin blindvault \
    && install -d -o 10001 -g 10001 -m 0700 /data

COPY --from=build /out/blindvault /usr/local/bin/blindvault

# Listen on every interface of the container; the embedded default keeps its files in /data
# (a volume, owned by the runtime user, mode 0700 as blindvault itself would create it); logs
# are JSON lines. Anything else from the README's configuration table is set at run time.
ENV BLINDVAULT_LISTEN=0.0.0.0:8080 \
    BLINDVAULT_DATA_DIR=/data \
    BLINDVAULT_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080

USER 10001:10001

# Liveness only (`/health` does no I/O), so a slow database does not mark the container
# unhealthy; readiness is `/health/ready`, for orchestrators that route traffic. Change the
# URL if you move BLINDVAULT_LISTEN off port 8080.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["curl", "--fail", "--silent", "--show-error", "--max-time", "3", "--output", "/dev/null", "http://127.0.0.1:8080/health"]

# `blindvault serve` drains in-flight requests on SIGTERM for up to BLINDVAULT_SHUTDOWN_TIMEOUT
# (30 s by default): stop it with `docker stop -t 35` (compose.yaml sets stop_grace_period).
# It handles SIGTERM and SIGINT itself and starts no child processes, so it can run as PID 1.
STOPSIGNAL SIGTERM
ENTRYPOINT ["blindvault"]
CMD ["serve"]
