#!/usr/bin/env bash
# with-services.sh CMD…: start what the tests need, run CMD with their addresses in the
# environment, and stop everything again, whether CMD passes or fails.
#
#   stripe-mock        STRIPE_MOCK_URL                 (scripts/stripe-mock.sh)
#   PostgreSQL 15      APPBACKEND_TEST_POSTGRES_URL    (scripts/postgres.sh)
#   pebble (ACME)      APPBACKEND_TEST_ACME_DIRECTORY, APPBACKEND_TEST_ACME_CA_ROOT
#                                                      (scripts/pebble.sh)
#
# Everything listens on 127.0.0.1 only and lives under .tmp/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

cleanup() {
	"$ROOT/scripts/stripe-mock.sh" stop || true
	"$ROOT/scripts/postgres.sh" stop || true
	"$ROOT/scripts/pebble.sh" stop || true
}
trap cleanup EXIT INT TERM

STRIPE_MOCK_URL=$("$ROOT/scripts/stripe-mock.sh" start)
export STRIPE_MOCK_URL
echo "with-services: stripe-mock at $STRIPE_MOCK_URL" >&2
APPBACKEND_TEST_POSTGRES_URL=$("$ROOT/scripts/postgres.sh" start)
export APPBACKEND_TEST_POSTGRES_URL
echo "with-services: PostgreSQL at ${APPBACKEND_TEST_POSTGRES_URL%%\?*}" >&2
PEBBLE=$("$ROOT/scripts/pebble.sh" start)
APPBACKEND_TEST_ACME_DIRECTORY=$(echo "$PEBBLE" | sed -n 1p)
APPBACKEND_TEST_ACME_CA_ROOT=$(echo "$PEBBLE" | sed -n 2p)
export APPBACKEND_TEST_ACME_DIRECTORY APPBACKEND_TEST_ACME_CA_ROOT
echo "with-services: pebble at $APPBACKEND_TEST_ACME_DIRECTORY" >&2

"$@"
