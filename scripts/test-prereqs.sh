#!/usr/bin/env bash
# What the tests need beyond the venv: a running PostgreSQL on 127.0.0.1:5432, Debian's
# docker-compose (to validate docker-compose.yml offline) and Debian's chromium (the review
# page's browser test drives /usr/bin/chromium; nothing is downloaded at run time).
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
exit 0
