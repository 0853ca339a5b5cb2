#!/bin/sh
# Runs shellcheck over the shell that runs on hosts (the systemd type's file
# script, mhtest's artifact collection) and the shell tests.  Without shellcheck the test is skipped,
# except under CI=true, where that is an error.
set -u
srcdir=${MH_TEST_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
shellcheck=${SHELLCHECK:-shellcheck}

if ! command -v "$shellcheck" >/dev/null 2>&1; then
        if [ "${CI:-}" = true ]; then
                echo "test-shellcheck: shellcheck is not installed (apt-get install" \
                        "shellcheck); CI=true forbids skipping" >&2
                exit 99
        fi
        echo "test-shellcheck: SKIP: shellcheck is not installed (apt-get install shellcheck)" >&2
        exit 77
fi
cd "$srcdir" || exit 99
"$shellcheck" --version | sed -n 's/^version: /test-shellcheck: shellcheck /p'
exec "$shellcheck" hosts/systemd-files.sh hosts/postgresql-wal.sh src/lib/fault.sh src/lib/outcome.sh src/mhtest/artifacts.sh \
        tests/unit/test-artifacts-script.sh tests/unit/test-layers.sh tests/unit/test-shellcheck.sh \
        tests/unit/test-postgresql-wal.sh tests/unit/test-systemd-files.sh tests/soak/test-soak.sh
