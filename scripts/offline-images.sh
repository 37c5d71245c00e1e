#!/usr/bin/env bash
# Builds the images compose.yaml needs without a container registry, from Debian packages,
# for podman as root (see README, "Without Docker Hub"):
#   localhost/tcgraph-debian:bookworm   a minimal bookworm root filesystem (debootstrap)
#   localhost/tcgraph-python:3.11       stands in for python:3.11-slim (PYTHON_IMAGE)
#   localhost/tcgraph-postgres:15       stands in for postgres:16 (POSTGRES_IMAGE)
# The host's locally added CAs (/usr/local/share/ca-certificates, e.g. a TLS-intercepting
# proxy's) are copied in, so that pip inside the build reaches PyPI as the host does.
set -euo pipefail

suite=${SUITE:-bookworm}
pg_major=${PG_MAJOR:-15}
here=$(cd "$(dirname "$0")" && pwd)
rootfs=$(mktemp -d /var/tmp/tcgraph-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase "$suite" "$rootfs"
# The host's apt sources (its mirror, updates and security fixes) when it runs the same suite:
# debootstrap lists the release alone.
if grep -qs "^VERSION_CODENAME=$suite\$" /etc/os-release; then
    rm -f "$rootfs/etc/apt/sources.list"
    cp -a /etc/apt/sources.list.d/. "$rootfs/etc/apt/sources.list.d/"
    if [ -f /etc/apt/sources.list ]; then cp /etc/apt/sources.list "$rootfs/etc/apt/"; fi
fi
if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
fi
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | podman import - "localhost/tcgraph-debian:$suite"

podman build --build-arg BASE_IMAGE="localhost/tcgraph-debian:$suite" \
    -t localhost/tcgraph-python:3.11 -f "$here/offline/python.Containerfile" "$here/offline"
podman build --build-arg BASE_IMAGE="localhost/tcgraph-debian:$suite" --build-arg PG_MAJOR="$pg_major" \
    -t "localhost/tcgraph-postgres:$pg_major" -f "$here/offline/postgres.Containerfile" "$here/offline"
