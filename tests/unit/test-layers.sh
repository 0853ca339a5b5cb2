#!/bin/sh
# The layers of the README's architecture, checked on the source tree: the
# core (src/lib/) names no host type and includes nothing of hosts/; hosts/
# is built from the installed headers and its own; no C file of src/ or
# hosts/ is over 1,000 lines; below the host layer no message names a host.
set -u
srcdir=${MH_TEST_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$srcdir" || exit 99
status=0

fail() {
        echo "test-layers: $*" >&2
        status=1
}

for header in hosts/*.h; do
        name=${header#hosts/}
        found=$(grep -l "^#include \"$name\"" src/lib/*.[ch] 2>/dev/null) &&
                fail "$(echo "$found" | tr '\n' ' ')includes $header: the core must not know a host type"
done

found=$(grep -n -E 'mh_host_type_(systemd|postgresql|script)|<mhc/postgresql\.h>|"(systemd|postgresql|script)"' \
        src/lib/*.[ch]) && fail "the core names a host type: $found"

found=$(grep -n '^#include "' hosts/*.c | grep -v -E '"(macro|postgresql|postgresql-wal|systemd-files|systemd-script)\.h"') &&
        fail "hosts/ includes a header that is neither installed nor its own: $found"

for file in src/*/*.c hosts/*.c; do
        lines=$(wc -l <"$file")
        [ "$lines" -le 1000 ] || fail "$file has $lines lines: more than one concept?"
done

found=$(grep -n "host '%s'" src/lib/ssh*.c src/lib/tunnel.c src/lib/systemd*.c 2>/dev/null) &&
        fail "a layer below the host layer names the host: $found"

[ $status -eq 0 ] && echo "test-layers: the tree obeys the layers"
exit $status
