#!/bin/sh
# mhtest's artifact script (src/mhtest/artifacts.sh) on a scratch directory,
# no lab needed, run as src/mhtest/artifacts.c runs it on a host (sh -s,
# the script on standard input): list names regular files and links, never
# follows one, and read copies a regular file and refuses the rest with
# the reason, also for odd names.
set -eu

srcdir=${MH_TEST_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
script=$srcdir/src/mhtest/artifacts.sh
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mhc-test-artifacts-script.XXXXXX")
finished=no
trap 'rm -rf "$scratch"; [ "$finished" = yes ] || echo "FAIL: stopped early" >&2' EXIT
d=$scratch/d
out=$scratch/out
failures=0
checks=0

fail() {
        printf 'FAIL: %s\n' "$*" >&2
        failures=$((failures + 1))
}

# list with the GLOBs given, in $scratch; its records, one a line, in $out.
list() {
        (cd "$scratch" && sh -s list "$@" <"$script") | tr '\0' '\n' >"$out"
}

# Whether the last list printed exactly the records given, one an argument, in any order.
records_are() {
        printf '%s\n' "$@" | sort >"$out.wanted"
        sort "$out" | cmp -s - "$out.wanted"
}

# read PATH: its status, output and error output must be the ones given.
read_is() {
        checks=$((checks + 1))
        status=0
        (cd "$scratch" && sh -s read "$1" <"$script") >"$out" 2>"$out.err" || status=$?
        if [ "$status" -ne "$2" ] || [ "$(cat "$out")" != "$3" ] || [ "$(cat "$out.err")" != "$4" ]
        then
                fail "read $1: status $status, out '$(cat "$out")', err '$(cat "$out.err")'"
        fi
}

mkdir -p "$d/sub" "$d/real"
echo ok >"$d/ok.log"
echo in-sub >"$d/sub/s.log"
echo secret >"$d/real/secret"
printf 'odd\n' >"$d/-odd name *.log"
ln -s "$d/real" "$d/linkdir"
ln -s "$d/real/secret" "$d/linkfile"
ln -s "$d/real" "$scratch/top"
mkfifo "$d/fifo"

checks=$((checks + 1))
list "$d"
records_are "F 3 $d/ok.log" "F 7 $d/sub/s.log" "F 7 $d/real/secret" "F 4 $d/-odd name *.log" \
        "L $d/linkdir" "L $d/linkfile" ||
        fail "list of a directory: $(cat "$out")"

checks=$((checks + 1))
list "$scratch/top/*" "$scratch/top" "$d/linkfile" "$d/no-match-*" "d/*.log"
records_are "T $scratch/top" "L $scratch/top" "L $d/linkfile" "F 3 ./d/ok.log" \
        "F 4 ./d/-odd name *.log" ||
        fail "list through links, of links, relative: $(cat "$out")"

read_is "$d/ok.log" 0 ok ''
read_is "./d/sub/s.log" 0 in-sub ''
read_is "$d/-odd name *.log" 0 odd ''
read_is "$d/./sub/../ok.log" 0 ok ''
read_is "$d/linkfile" 3 '' 'a symbolic link (not followed)'
read_is "$d/linkdir/secret" 3 '' 'a directory on its path is a symbolic link (not followed)'
read_is "$scratch/top/secret" 3 '' 'a directory on its path is a symbolic link (not followed)'
# Through a link and back: the file opened is the one the path names as written.
read_is "$d/linkdir/../ok.log" 0 ok ''
read_is "$d/fifo" 3 '' 'not a regular file'
read_is "$d/sub" 3 '' 'not a regular file'
read_is "$d/gone.log" 3 '' 'it is gone'

finished=yes
echo "test-artifacts-script: $checks checks, $failures failures"
[ "$failures" -eq 0 ]
