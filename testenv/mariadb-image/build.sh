#!/bin/bash
# Builds osdr's local MariaDB test image (default tag osdr/mariadb:local) from Debian packages, for machines
# that reach no container registry: debootstrap a minimal Debian with mariadb-server, then `docker import` it.
# The Debian mirror and suite are read from this machine's apt sources; none is written here.
set -euo pipefail

tag=${1:-${OSDR_TEST_MYSQL_IMAGE:-osdr/mariadb:local}}
here=$(cd "$(dirname "$0")" && pwd)

# apt_mirror prints the first Debian archive URI of the machine's apt sources (deb822 or one-line style),
# skipping the security archive.
apt_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /security/) print $i; break } }' "$f"
  done
}

mirror=$(apt_mirror | head -n 1)
if [ -z "$mirror" ]; then
  echo "build.sh: no Debian mirror found in /etc/apt/sources.list{,.d}" >&2
  exit 1
fi
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ -z "$suite" ]; then
  echo "build.sh: VERSION_CODENAME missing from /etc/os-release" >&2
  exit 1
fi

root=$(mktemp -d /tmp/osdr-mariadb-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT

echo "build.sh: debootstrap $suite from $mirror (this takes a few minutes)" >&2
debootstrap --variant=minbase --include=mariadb-server "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -n 30 "$root.log" >&2
  exit 1
}
rm -f "$root.log"
install -m 0755 "$here/entrypoint.sh" "$root/usr/local/bin/osdr-mariadb-entrypoint"
install -d "$root/docker-entrypoint-initdb.d"
rm -rf "$root"/var/lib/mysql/* "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

tar -C "$root" -c . | docker import \
  -c 'ENTRYPOINT ["/usr/local/bin/osdr-mariadb-entrypoint"]' \
  -c 'CMD ["mariadbd"]' \
  -c 'EXPOSE 3306' \
  -c 'ENV LANG=C.UTF-8' \
  - "$tag" >/dev/null
echo "build.sh: built $tag" >&2
