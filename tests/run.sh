#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need (a real SMTP server,
# aiosmtpd; a headless browser, Debian's chromium), then checks formatting and lints, then runs
# every test.
set -euo pipefail
cd "$(dirname "$0")/.."

has_aiosmtpd() {
  for py in ${DISBMON_TEST_PYTHON:-} /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import aiosmtpd' >/dev/null 2>&1; then
      return 0
    fi
  done
  return 1
}

if ! has_aiosmtpd; then
  echo "tests/run.sh: installing the SMTP server the email tests deliver to (aiosmtpd)" >&2
  sudo=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }; then
    $sudo apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-aiosmtpd >&2 || true
  fi
  if ! has_aiosmtpd; then
    python3 -m pip install --quiet --user aiosmtpd >&2 || python3 -m pip install --quiet aiosmtpd >&2 || true
  fi
  if ! has_aiosmtpd; then
    echo "tests/run.sh: could not install aiosmtpd (apt-get python3-aiosmtpd or pip aiosmtpd); the email tests cannot run" >&2
    exit 1
  fi
fi

has_chromium() {
  for c in ${DISBMON_TEST_CHROMIUM:-} /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -x "$c" ]; then return 0; fi
  done
  return 1
}

if ! has_chromium; then
  echo "tests/run.sh: installing the headless browser the dashboard tests load pages in (chromium)" >&2
  sudo=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }; then
    $sudo apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >&2 || true
  fi
  if ! has_chromium; then
    echo "tests/run.sh: could not install chromium (apt-get install chromium); the dashboard tests cannot run. Set DISBMON_TEST_CHROMIUM to a Chromium binary." >&2
    exit 1
  fi
fi

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test
