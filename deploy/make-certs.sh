#!/bin/sh
# Makes a development certificate authority and one certificate per name, with openssl: for TLS on
# every Berth connection (docs/operations.md, "Securing a cluster").
#
#   deploy/make-certs.sh DIR NAME... [--host HOST]... [--days N]
#
# Writes DIR/ca.pem and DIR/ca.key (the CA; keep ca.key off the cluster's machines), and for each NAME
# DIR/NAME.pem and DIR/NAME.key (mode 600). Each certificate's subject common name is NAME — the
# principal it authenticates as with mutual TLS — and it is valid for the host names and addresses
# NAME, localhost, 127.0.0.1, ::1 and every --host, as a server and as a client. --days: validity
# (default 365; a negative number makes an expired certificate, for tests). Existing files are kept:
# delete them to rotate.
set -eu

usage() { echo "usage: $0 DIR NAME... [--host HOST]... [--days N]" >&2; exit 2; }
[ $# -ge 2 ] || usage
command -v openssl >/dev/null 2>&1 || { echo "make-certs: openssl is needed (apt-get install openssl)" >&2; exit 1; }
dir=$1; shift
names=""
hosts=""
days=365
while [ $# -gt 0 ]; do
  case $1 in
    --host) [ $# -ge 2 ] || usage; hosts="$hosts $2"; shift 2 ;;
    --days) [ $# -ge 2 ] || usage; days=$2; shift 2 ;;
    -*) usage ;;
    *) names="$names $1"; shift ;;
  esac
done
[ -n "$names" ] || usage

umask 077
mkdir -p "$dir"

if [ ! -e "$dir/ca.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=Berth development CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  chmod 644 "$dir/ca.pem"
  echo "make-certs: made the CA $dir/ca.pem" >&2
fi

for name in $names; do
  if [ -e "$dir/$name.pem" ]; then
    echo "make-certs: $dir/$name.pem exists; keeping it" >&2
    continue
  fi
  san="DNS:$name,DNS:localhost,IP:127.0.0.1,IP:::1"
  for h in $hosts; do
    case $h in
      *[!0-9.:]*) san="$san,DNS:$h" ;;
      *) san="$san,IP:$h" ;;
    esac
  done
  ext="$dir/.$name.ext"
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n' "$san" >"$ext"
  openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$dir/$name.key" -out "$dir/.$name.csr" 2>/dev/null
  openssl x509 -req -sha256 -in "$dir/.$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days "$days" -extfile "$ext" -out "$dir/$name.pem" 2>/dev/null
  rm -f "$ext" "$dir/.$name.csr"
  chmod 644 "$dir/$name.pem"
  echo "make-certs: made $dir/$name.pem and $dir/$name.key" >&2
done
