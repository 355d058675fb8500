#!/bin/sh
# Generates bearer tokens for a Berth cluster: one random token per principal (agent, frameworks,
# operator) in DIR/<principal>.token (mode 600), and DIR/tokens.yaml — the masters' auth.tokensFile,
# which holds only the tokens' SHA-256, never the tokens. The principals match deploy/config/acls.yaml.
# Also NATS credentials: a password for the masters' NATS user and one for the framework host's in
# DIR/nats-{master,frameworks}.password, and DIR/nats-auth.conf, the authorization block the NATS
# servers include (deploy/nats/*.conf): without a password nobody — no task — reaches NATS, and the
# framework host's user cannot touch the registry and election buckets.
#
#   deploy/make-tokens.sh DIR [--owner USER]
#
# --owner chowns frameworks.token to USER (the user `berth frameworks` runs as: `berth` with the
# systemd units, uid 10001 in the container image); the agent runs as root and reads its own.
# Existing files are kept: delete them to rotate (then restart the masters, agents and framework host).
set -eu

usage() { echo "usage: $0 DIR [--owner USER]" >&2; exit 2; }
[ $# -ge 1 ] || usage
dir=$1; shift
owner=""
while [ $# -gt 0 ]; do
  case $1 in
    --owner) [ $# -ge 2 ] || usage; owner=$2; shift 2 ;;
    *) usage ;;
  esac
done

umask 077
mkdir -p "$dir"

# 32 random bytes as 64 hex characters.
random_token() { head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n'; }
sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

make_nats() {
  if [ -e "$dir/nats-auth.conf" ]; then
    echo "make-tokens: $dir/nats-auth.conf exists; keeping it (delete it and the .password files to rotate)" >&2
    return
  fi
  master=$(random_token)
  frameworks=$(random_token)
  printf '%s\n' "$master" >"$dir/nats-master.password"
  printf '%s\n' "$frameworks" >"$dir/nats-frameworks.password"
  {
    echo "# NATS users of a Berth cluster (made by make-tokens.sh; included by deploy/nats/*.conf)."
    echo "authorization {"
    echo "  users: ["
    echo "    # The masters: registry, leader election, the event stream."
    echo "    { user: master, password: \"$master\" }"
    echo "    # The framework host: its own bucket (berth-frameworks), never the masters' buckets."
    echo "    { user: frameworks, password: \"$frameworks\", permissions: { publish: { allow: \">\", deny: ["
    for bucket in berth-registry berth-election; do
      echo "        \"\$KV.$bucket.>\", \"\$JS.API.STREAM.*.KV_$bucket\", \"\$JS.API.STREAM.*.*.KV_$bucket\","
      echo "        \"\$JS.API.DIRECT.GET.KV_$bucket.>\", \"\$JS.API.CONSUMER.*.KV_$bucket\", \"\$JS.API.CONSUMER.*.KV_$bucket.>\","
    done
    echo "      ] } } }"
    echo "  ]"
    echo "}"
  } >"$dir/nats-auth.conf"
  chmod 644 "$dir/nats-auth.conf"   # the NATS container's user must read it; it is as secret as the passwords: keep DIR private
  if [ -n "$owner" ]; then chown "$owner" "$dir/nats-frameworks.password" "$dir/nats-master.password"; fi
  echo "make-tokens: wrote $dir/nats-auth.conf and $dir/nats-{master,frameworks}.password" >&2
}
make_nats

if [ -e "$dir/tokens.yaml" ]; then
  echo "make-tokens: $dir/tokens.yaml exists; keeping it (delete it and the .token files to rotate)" >&2
  exit 0
fi

tmp="$dir/tokens.yaml.tmp"
echo "# Berth principals and the SHA-256 of their bearer tokens (auth.tokensFile). Made by make-tokens.sh." >"$tmp"
echo "principals:" >>"$tmp"
for principal in agent frameworks operator; do
  token=$(random_token)
  printf '%s\n' "$token" >"$dir/$principal.token"
  printf '  - name: %s\n    tokenSha256: %s\n' "$principal" "$(sha256 "$token")" >>"$tmp"
done
chmod 644 "$tmp"   # hashes only: the masters' user must read it
mv "$tmp" "$dir/tokens.yaml"
if [ -n "$owner" ]; then chown "$owner" "$dir/frameworks.token"; fi
echo "make-tokens: wrote $dir/tokens.yaml and $dir/{agent,frameworks,operator}.token" >&2
