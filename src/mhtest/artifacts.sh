#!/bin/sh
# mhtest's artifact collection on a host (see src/mhtest/artifacts.c).
# usage: sh -s list GLOB...   or   sh -s read PATH   (this script on standard input)
#
# It never follows a symbolic link: a link where artifacts are looked for
# (a log directory that is a link to /etc, a log file swapped for a link to
# /etc/shadow) must not copy other files of the host to the runner.
#
# list prints a NUL-terminated record for each thing that the GLOBs match,
# and for each thing below a directory they match (find -P):
#   "F SIZE PATH"  a regular file, to read
#   "L PATH"       a symbolic link, not followed
#   "T LINK"       what a GLOB matches is reached through LINK, a symbolic
#                  link on its path: not followed, nothing under it listed
# A relative GLOB is relative to the login directory; its PATHs start "./".
#
# read copies the regular file PATH (one that list printed) to standard
# output.  It opens PATH and then checks what it opened by its name in
# /proc/self/fd, the real path of the open file: a symbolic link on the way,
# even one made after the listing, makes that another path than PATH, and
# nothing is copied.  When PATH is refused, the exit status is 3 and one line
# on standard error says why.
#
# Needs POSIX sh, /proc, coreutils (readlink, cat) and GNU find.
set -u
export LC_ALL=C
unset CDPATH
# $PWD without links, for the comparisons below.
cd -P . || exit 70

refuse() {
        printf '%s\n' "$1" >&2
        exit 3
}

# Whether the directory of path $1 is where the path says: no link on its way.
direct() {
        (cd -- "${1%/*}/" 2>/dev/null && [ "$(pwd -P)" = "$PWD" ])
}

# The first directory on path $1 that is a symbolic link ($1 when none is).
link_on_path() {
        l=$1
        d=${1%/*}
        while [ -n "$d" ] && [ "$d" != . ]; do
                if [ -L "$d" ]; then
                        l=$d
                fi
                d=${d%/*}
        done
        printf '%s' "$l"
}

list() {
        # The GLOBs are expanded unquoted with IFS empty: pathname expansion
        # only, no field splitting.
        IFS=
        for p in "$@"; do
                # shellcheck disable=SC2086
                for f in $p; do
                        case $f in
                        /*) ;;
                        *) f=./$f ;;
                        esac
                        if [ ! -e "$f" ] && [ ! -L "$f" ]; then
                                : # a GLOB that matches nothing stays as it is
                        elif ! direct "$f"; then
                                printf 'T %s\0' "$(link_on_path "$f")"
                        elif [ -L "$f" ]; then
                                printf 'L %s\0' "$f"
                        else
                                find -P "$f" \( -type f -printf 'F %s %p\0' \) -o \
                                        \( -type l -printf 'L %p\0' \)
                        fi
                done
        done
}

# Copy the file open on 3 if it is the regular file at path $1 (see above).
copy_open() {
        if [ "$(readlink /proc/self/fd/3)" != "$1" ] || [ ! -f /proc/self/fd/3 ]; then
                return 3
        fi
        cat <&3
}

# Say why the file at path $1 was not copied, and exit.
refuse_file() {
        if [ -L "$1" ]; then
                refuse 'a symbolic link (not followed)'
        elif [ ! -e "$1" ]; then
                refuse 'it is gone'
        elif ! direct "$1"; then
                refuse 'a directory on its path is a symbolic link (not followed)'
        elif [ ! -f "$1" ]; then
                refuse 'not a regular file'
        elif $opened; then
                refuse 'it changed as it was opened'
        else
                refuse 'it cannot be opened'
        fi
}

read_file() {
        f=$1
        opened=false
        # Opening a FIFO would wait for a writer (up to the command's timeout).
        if [ -p "$f" ]; then
                refuse_file "$f"
        fi
        # The absolute path that f names, as written: no link resolved.
        e=$(cd -- "${f%/*}/" 2>/dev/null && printf '%s/%s' "${PWD%/}" "${f##*/}") || e=
        exec 4>&2
        # The shell's own message when f cannot be opened goes nowhere:
        # refuse_file says why.
        {
                opened=true
                copy_open "$e" 2>&4
        } 2>/dev/null 3<"$f"
        s=$?
        if $opened && [ "$s" -ne 3 ]; then
                exit "$s"
        fi
        refuse_file "$f"
}

case ${1:-} in
list)
        shift
        list "$@"
        ;;
read)
        [ $# -eq 2 ] || exit 64
        read_file "$2"
        ;;
*)
        echo 'usage: sh -s list GLOB... | read PATH' >&2
        exit 64
        ;;
esac
