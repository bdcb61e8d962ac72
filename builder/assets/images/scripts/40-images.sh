#!/usr/bin/env bash
# Pre-load the images so a droplet, and its rollback, need no registry:
#   ODL_APP_IMAGES      Odoo refs as the compose file names them (configured tag and prior good tag)
#   ODL_SERVICE_IMAGES  postgres/redis refs as configured (e.g. postgres:16); tried from the configured
#                       registry first (a private mirror, or the local cloud's), then from where the ref
#                       points (Docker Hub), and tagged with the configured name so compose finds it
#   ODL_REGISTRY, ODL_REGISTRY_USER, REGISTRY_TOKEN (environment only; login removed before exit)
# Idempotent: a pull of a present image is a no-op check.
set -euo pipefail
registry=${ODL_REGISTRY:?ODL_REGISTRY is required}
read -r -a app_images <<<"${ODL_APP_IMAGES:?ODL_APP_IMAGES is required}"
read -r -a service_images <<<"${ODL_SERVICE_IMAGES:-}"

logout() {
  docker logout "$registry" >/dev/null 2>&1 || true
  # docker logout leaves the file behind; the snapshot must carry no registry credential at all.
  rm -f /root/.docker/config.json
}
trap logout EXIT

if [ -n "${REGISTRY_TOKEN:-}" ]; then
  if [ -z "${ODL_REGISTRY_USER:-}" ]; then
    echo "40-images: a registry token is set but registry.username is not" >&2
    exit 1
  fi
  printf '%s' "$REGISTRY_TOKEN" | docker login --username "$ODL_REGISTRY_USER" --password-stdin "$registry" >/dev/null
fi
unset REGISTRY_TOKEN

pull() { timeout 1200 docker pull --quiet "$1" >/dev/null; }

# A ref names its registry when its first path part has a dot or a port, or is localhost.
has_registry() {
  local first=${1%%/*}
  [[ $1 == */* && ($first == *.* || $first == *:* || $first == localhost) ]]
}

for ref in "${app_images[@]}"; do
  echo "40-images: pulling $ref"
  pull "$ref"
done

for ref in "${service_images[@]}"; do
  if has_registry "$ref"; then
    echo "40-images: pulling $ref"
    pull "$ref"
  elif pull "$registry/$ref"; then
    echo "40-images: pulled $registry/$ref, tagged $ref"
    docker tag "$registry/$ref" "$ref"
  else
    echo "40-images: $registry/$ref not available; pulling $ref"
    pull "$ref"
  fi
done

for ref in "${app_images[@]}" "${service_images[@]}"; do
  docker image inspect --format "40-images: {{.Id}} $ref" "$ref"
done
