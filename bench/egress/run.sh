#!/usr/bin/env bash
# Egress proxy benchmark, one command: bottle vs direct TLS vs mitmproxy vs
# squid (ssl-bump) on loopback, request-body DLP throughput, passthrough
# throughput, RSS with 1,000 idle tunnels.
# Prints markdown tables; copy them into docs/benchmarks.md ("Egress proxy").
#
# Needs: python3 with venv (mitmproxy is installed from PyPI into
# target/bench-mitmproxy unless MITMDUMP already names a mitmdump binary);
# squid with ssl-bump from Debian's squid-openssl (installed with apt-get when
# missing and run as root; SQUID=none leaves it out) and openssl for its CA.
set -euo pipefail
cd "$(dirname "$0")/../.."
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

if [ -z "${MITMDUMP:-}" ]; then
  venv=target/bench-mitmproxy
  if [ ! -x "$venv/bin/mitmdump" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet mitmproxy
  fi
  export MITMDUMP="$PWD/$venv/bin/mitmdump"
fi

if [ -z "${SQUID:-}" ]; then
  if ! command -v squid >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq squid-openssl >/dev/null || true
  fi
  SQUID=$(command -v squid || echo none)
fi
if [ "$SQUID" = none ]; then unset SQUID; else export SQUID; fi

cargo build --release -p bottle-egress --example egress_bench
bin=$(find target -path '*/release/examples/egress_bench' -type f | head -n1)
echo "# egress proxy benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m), $(uname -r), load average $(cut -d" " -f1-3 /proc/loadavg)"
echo "# mitmproxy: $("$MITMDUMP" --version 2>/dev/null | head -n1)"
echo "# squid: $(${SQUID:-false} -v 2>/dev/null | head -n1)"
exec "$bin"
