#!/usr/bin/env bash
# What `make test` needs beyond the virtualenv, checked (and, as root on Debian, installed) first:
#   socat      the TLS terminator the TLS tests put in front of the broker (Debian package socat)
#   chromium   the browser of the UI tests, at $CHROMIUM (default /usr/bin/chromium; package chromium)
#   PostgreSQL a server answering on $CRYPTO_PRICES_PG_HOST:$CRYPTO_PRICES_PG_PORT (127.0.0.1:5432)
#              as $CRYPTO_PRICES_PG_USER (postgres) with trust auth; a local cluster is started if stopped
#   Redis      the Celery broker of the Celery tests, at $CRYPTO_PRICES_REDIS_URL (redis://127.0.0.1:6379/0);
#              a local one (Debian package redis-server) is started, memory only, if it does not answer
# Anything missing that cannot be installed here is named with the command that installs it, and
# the exit status is 1. FRANZ_IVAN_NO_INSTALL=1 only checks (never runs apt-get or pg_ctlcluster).
set -euo pipefail

chromium="${CHROMIUM:-/usr/bin/chromium}"
pg_host="${CRYPTO_PRICES_PG_HOST:-127.0.0.1}"
pg_port="${CRYPTO_PRICES_PG_PORT:-5432}"
may_install=0
if [[ "$(id -u)" == 0 && "${FRANZ_IVAN_NO_INSTALL:-0}" != 1 ]] && command -v apt-get >/dev/null; then
    may_install=1
fi

missing=()
command -v socat >/dev/null || missing+=(socat)
[[ -x "$chromium" ]] || missing+=(chromium)
if ((${#missing[@]})) && ((may_install)); then
    echo "make test: installing the Debian packages ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    missing=()
    command -v socat >/dev/null || missing+=(socat)
    [[ -x "$chromium" ]] || missing+=(chromium)
fi
if ((${#missing[@]})); then
    echo "make test needs the Debian packages: ${missing[*]} (chromium expected at $chromium)." >&2
    echo "Install them with: sudo apt-get install -y ${missing[*]}  (make test as root installs them itself)" >&2
    exit 1
fi

if ! pg_isready -h "$pg_host" -p "$pg_port" -q 2>/dev/null; then
    if ((may_install)) && command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
        echo "make test: starting the local PostgreSQL cluster" >&2
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
        for _ in $(seq 1 30); do pg_isready -h "$pg_host" -p "$pg_port" -q && break; sleep 1; done
    fi
    if ! pg_isready -h "$pg_host" -p "$pg_port" -q 2>/dev/null; then
        echo "make test needs PostgreSQL on $pg_host:$pg_port (user ${CRYPTO_PRICES_PG_USER:-postgres}, trust auth)." >&2
        echo "Start it with: sudo pg_ctlcluster <version> main start, or set CRYPTO_PRICES_PG_HOST/_PG_PORT/_PG_USER." >&2
        exit 1
    fi
fi

redis_url="${CRYPTO_PRICES_REDIS_URL:-redis://127.0.0.1:6379/0}"
if [[ ! "$redis_url" =~ ^rediss?://([^@/]*@)?([^:/]+)(:([0-9]+))? ]]; then
    echo "CRYPTO_PRICES_REDIS_URL is not a redis:// URL: $redis_url" >&2
    exit 1
fi
redis_host="${BASH_REMATCH[2]}"
redis_port="${BASH_REMATCH[4]:-6379}"
redis_answers() {
    # PING over bash's /dev/tcp: redis-cli need not be installed; a server asking for a password counts.
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "PING\r\n" >&3 && read -r reply <&3 &&
        [[ $reply == "+PONG"* || $reply == "-NOAUTH"* ]]' "$redis_host" "$redis_port" 2>/dev/null
}
if ! redis_answers; then
    if ((may_install)) && [[ "$redis_host" == 127.0.0.1 || "$redis_host" == localhost ]]; then
        if ! command -v redis-server >/dev/null; then
            echo "make test: installing the Debian package redis-server" >&2
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
        fi
        echo "make test: starting Redis on $redis_host:$redis_port (memory only)" >&2
        redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no >/dev/null
        for _ in $(seq 1 30); do redis_answers && break; sleep 1; done
    fi
    if ! redis_answers; then
        echo "make test needs Redis at $redis_url (the broker of the Celery tests)." >&2
        echo "Start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no" >&2
        echo "(Debian package redis-server), or set CRYPTO_PRICES_REDIS_URL." >&2
        exit 1
    fi
fi
