#!/bin/sh
# Generates bearer tokens for a Berth cluster: one random token per principal (agent, frameworks,
# operator) in DIR/<principal>.token (mode 600), and DIR/tokens.yaml — the masters' auth.tokensFile,
# which holds only the tokens' SHA-256, never the tokens. The principals match deploy/config/acls.yaml.
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
