#!/bin/sh
# The public headers as a user's module sees them: a test module
# (tests/unit/data/modules/pedantic.c) with empty hooks, a test without
# settings and every macro of the test API builds without a warning under
# -Wall -Wextra -Wpedantic, in C11 and GNU11.
set -u
srcdir=${MH_TEST_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cc=${CC:-cc}
out=$(mktemp -d) || exit 99
trap 'rm -rf "$out"' EXIT
status=0

for std in c11 gnu11; do
        # shellcheck disable=SC2086 # $cc may be "gcc -m32" and the like
        if ! $cc -std="$std" -Wall -Wextra -Wpedantic -Werror -fPIC -shared \
                -I"$srcdir/src/include" -o "$out/pedantic.so" \
                "$srcdir/tests/unit/data/modules/pedantic.c" 2>"$out/err"; then
                echo "test-headers: a module does not build warning-free with -std=$std:" >&2
                cat "$out/err" >&2
                status=1
        fi
done
exit $status
