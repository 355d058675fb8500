#!/bin/sh
# Makes sure the external services the integration tests start are installed. Idempotent and
# quiet when everything is present. As root, installs what is missing with apt-get (running
# `apt-get update` only when the package is not known yet); otherwise prints what to install and
# exits 1. To add a service, add one `need` line below.
set -eu

missing_pkgs=""

# need COMMAND PACKAGE — COMMAND is looked for on PATH and in the sbin directories a non-root
# PATH often lacks (Debian installs nats-server to /usr/sbin).
need() {
  if command -v "$1" >/dev/null 2>&1; then return 0; fi
  for dir in /usr/sbin /usr/local/sbin /usr/local/bin; do
    if [ -x "$dir/$1" ]; then return 0; fi
  done
  missing_pkgs="$missing_pkgs $2"
}

need nats-server nats-server
need dockerd docker.io
need busybox busybox-static
need openssl openssl
need chromium chromium
need docker-compose docker-compose

[ -z "$missing_pkgs" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-services: missing:$missing_pkgs" >&2
  echo "ensure-services: run this script as root, or: sudo apt-get install -y$missing_pkgs" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
for pkg in $missing_pkgs; do
  if ! apt-cache show "$pkg" >/dev/null 2>&1; then
    echo "ensure-services: apt-get update (package lists do not know $pkg yet)" >&2
    apt-get update -qq >/dev/null
    break
  fi
done
echo "ensure-services: installing$missing_pkgs" >&2
# shellcheck disable=SC2086 # one word per package, on purpose
apt-get install -y -qq $missing_pkgs >/dev/null
