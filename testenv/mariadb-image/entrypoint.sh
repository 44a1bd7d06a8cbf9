#!/bin/bash
# Entrypoint of osdr's locally built MariaDB image. It honours the official images' MARIADB_*/MYSQL_*
# variables (database, user, password, root password) and /docker-entrypoint-initdb.d, so testcontainers-go's
# MySQL module drives this image exactly as it drives the official one.
set -euo pipefail

env_or() { local v; for v in "$@"; do if [ -n "${!v:-}" ]; then printf '%s' "${!v}"; return; fi; done; }
database=$(env_or MARIADB_DATABASE MYSQL_DATABASE)
user=$(env_or MARIADB_USER MYSQL_USER)
password=$(env_or MARIADB_PASSWORD MYSQL_PASSWORD)
root_password=$(env_or MARIADB_ROOT_PASSWORD MYSQL_ROOT_PASSWORD)
allow_empty_root=$(env_or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD MYSQL_ALLOW_EMPTY_PASSWORD)

if [ "${1:-mariadbd}" != mariadbd ]; then exec "$@"; fi
[ $# -gt 0 ] && shift

sql_quote() { printf "'%s'" "${1//\'/\'\'}"; }

datadir=/var/lib/mysql
install -d -o mysql -g mysql /run/mysqld "$datadir"
if [ ! -d "$datadir/mysql" ]; then
  if [ -z "$root_password" ] && [ -z "$allow_empty_root" ]; then
    echo "osdr-mariadb: set MARIADB_ROOT_PASSWORD (or MYSQL_ROOT_PASSWORD) or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" >&2
    exit 1
  fi
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db >/dev/null
  init=$(mktemp)
  {
    echo "FLUSH PRIVILEGES;"
    # Debian's root logs in by socket only; clients of a container come over TCP.
    echo "CREATE USER 'root'@'%' IDENTIFIED BY $(sql_quote "$root_password");"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "$database" ]; then
      echo "CREATE DATABASE IF NOT EXISTS \`$database\`;"
    fi
    if [ -n "$user" ] && [ "$user" != root ]; then
      echo "CREATE USER $(sql_quote "$user")@'%' IDENTIFIED BY $(sql_quote "$password");"
      if [ -n "$database" ]; then
        echo "GRANT ALL ON \`$database\`.* TO $(sql_quote "$user")@'%';"
      fi
    fi
    if [ -n "$database" ]; then echo "USE \`$database\`;"; fi
    for f in /docker-entrypoint-initdb.d/*.sql; do [ -f "$f" ] && cat "$f" && echo; done
  } >"$init"
  mariadbd --user=mysql --datadir="$datadir" --bootstrap <"$init"
  rm -f "$init"
fi

exec mariadbd --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --port=3306 --skip-name-resolve "$@"
