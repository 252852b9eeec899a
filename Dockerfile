# syntax=docker/dockerfile:1
# The chainbook image (README "Deploying"). Every step that makes /app is scripts/image/build-app.sh,
# which test/scripts/image.int.test.ts runs outside Docker (and serves from); this file only gives
# it a place to run and copies its result. Build: docker build -t chainbook:0.1.0 .
#
# Run with a read-only root file system: the service writes only to CHAINBOOK_DATA_DIR
# (/var/lib/chainbook: the embedded database outside production, tokens.json, the local key files
# outside production, artifacts/deliveries/quarantine without their buckets, witness state) and to
# /tmp (the YARA plugin's scratch files). Mount both as volumes (Kubernetes: emptyDir or a PVC).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
# node-gyp compiles pkcs11js (the PKCS#11 signer) against the Node headers of the image itself.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local
WORKDIR /src
# Dependencies first, in a layer of their own; no install scripts here (build-app.sh's own
# `npm ci --omit=dev` compiles what the runtime needs).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# dist/, then /out/app: bin/, dist/, package.json, the production dependencies, openapi.yaml.
RUN bash scripts/image/build-app.sh /out

FROM ${NODE_IMAGE} AS runtime
# yara: the content inspector's YARA plugin runs it (/ready fails without it).
RUN apt-get update \
  && apt-get install -y --no-install-recommends yara \
  && rm -rf /var/lib/apt/lists/* \
  && groupadd --system --gid 10001 chainbook \
  && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/chainbook --no-create-home \
    --shell /usr/sbin/nologin chainbook \
  && mkdir -p /var/lib/chainbook \
  && chown 10001:10001 /var/lib/chainbook \
  && chmod 0700 /var/lib/chainbook
# Owned by root and read-only to the service's user: it cannot change its own code.
COPY --from=build /out/app /app
WORKDIR /app
ENV NODE_ENV=production \
  HOST=0.0.0.0 \
  PORT=8080 \
  CHAINBOOK_DATA_DIR=/var/lib/chainbook \
  OPENAPI_PATH=/app/openapi.yaml
USER 10001:10001
VOLUME ["/var/lib/chainbook", "/tmp"]
EXPOSE 8080
# /health over the scheme serve speaks: HTTPS when TLS_CERT_FILE is set (production requires it; the probe
# presents no client certificate, /health is public), plain HTTP otherwise (a laptop with DEV_SKIP_MTLS).
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "const tls = Boolean(process.env.TLS_CERT_FILE); require(tls ? 'node:https' : 'node:http').get({ host: '127.0.0.1', port: process.env.PORT || 8080, path: '/health', rejectUnauthorized: false }, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"]
# No ENTRYPOINT: Kubernetes' `args` and Compose's `command` give the whole command line
# (`node bin/chainbook.js serve`, `… signing-proxy`, `… relay kafka`, …).
CMD ["node", "bin/chainbook.js", "serve"]
