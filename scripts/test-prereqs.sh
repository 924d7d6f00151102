#!/usr/bin/env bash
# What the tests need beyond the venv: a running PostgreSQL on 127.0.0.1:5432, Debian's
# docker-compose (to validate docker-compose.yml offline), Debian's chromium (the review
# page's browser test drives /usr/bin/chromium; nothing is downloaded at run time) and the
# pgvector extension (the semantic cache's PgVectorIndex and its tests).
# Installs/starts them when it can.
set -u
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "test-prereqs: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  pg_isready -q -h 127.0.0.1 -p 5432 || echo "test-prereqs: PostgreSQL is not running on 127.0.0.1:5432; store tests will fail"
fi
if ! command -v docker-compose >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test-prereqs: installing docker-compose (Debian) to validate docker-compose.yml"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose) >/dev/null 2>&1 \
      || echo "test-prereqs: could not install docker-compose"
  else
    echo "test-prereqs: docker-compose missing (apt-get install docker-compose); the compose test will be skipped"
  fi
fi
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test-prereqs: installing chromium (Debian) for the review page's browser test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
      || echo "test-prereqs: could not install chromium"
  else
    echo "test-prereqs: /usr/bin/chromium missing (apt-get install chromium); the browser test will fail"
  fi
fi
debian_archive() {  # the main archive this machine's apt already uses (not -security)
  { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hsE '^deb ' /etc/apt/sources.list | awk '{print $2}'; } | grep -v security | head -n1
}
pgvector_from_source() {  # $1: PostgreSQL major version
  # Debian 12 has no postgresql-15-pgvector; Debian 13's source package (pgvector 0.8.0) builds
  # against postgresql-server-dev-15 with PGXS in ~10 s. A private apt list in a temporary
  # folder: the machine's own apt sources stay as they are.
  local tmp archive rc
  archive="$(debian_archive)"
  [ -n "$archive" ] || return 1
  tmp="$(mktemp -d)" && mkdir -p "$tmp/lists/partial"
  echo "deb-src $archive trixie main" >"$tmp/sources.list"
  local private=(-o "Dir::Etc::sourcelist=$tmp/sources.list" -o Dir::Etc::sourceparts=-
                 -o "Dir::State::Lists=$tmp/lists" -o Acquire::Languages=none)
  local pg_config="/usr/lib/postgresql/$1/bin/pg_config"
  # OPTFLAGS= : no -march=native, as Debian builds it (the .so runs on any x86-64)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-server-dev-$1" make gcc \
    && apt-get "${private[@]}" update -qq \
    && (cd "$tmp" && apt-get "${private[@]}" source --download-only pgvector) \
    && tar -xzf "$tmp"/pgvector_*.orig.tar.gz -C "$tmp" \
    && make -C "$tmp"/pgvector-*/ PG_CONFIG="$pg_config" OPTFLAGS= -j2 \
    && make -C "$tmp"/pgvector-*/ PG_CONFIG="$pg_config" install
  rc=$?
  rm -rf "$tmp"
  return $rc
}
PG_MAJOR="$(ls /etc/postgresql 2>/dev/null | head -n1)"
if [ -n "$PG_MAJOR" ] && [ ! -f "/usr/share/postgresql/$PG_MAJOR/extension/vector.control" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test-prereqs: installing pgvector for PostgreSQL $PG_MAJOR (the semantic cache's index)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$PG_MAJOR-pgvector") >/dev/null 2>&1 \
      || pgvector_from_source "$PG_MAJOR" >/dev/null 2>&1 \
      || echo "test-prereqs: could not install pgvector; the pgvector tests will fail"
  else
    echo "test-prereqs: pgvector missing (postgresql-$PG_MAJOR-pgvector); the pgvector tests will fail"
  fi
fi
exit 0
