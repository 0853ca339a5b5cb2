#!/bin/sh
# mhc systemd host: file backup and change-aware restore (see hosts/systemd.c)
# usage: sh files.sh backup|restore|full DIR ROOT VERIFY CAP PATH...
#
# Runs on the host, kept in the backup directory DIR from the backup on.
# PATHs are relative to ROOT ("/" on hosts; a scratch tree in the tests).
# backup saves them in DIR (files.tar, manifest); restore puts back what
# changed since the backup or the last restore; full puts back everything
# (it removes only what the backup has not and extracts all over the rest).
# It prints NUL-terminated records: "unchanged" or "changed", "R path"
# (restored) and "D path" (removed) up to CAP of each and "NR n"/"ND n"
# (their counts), "V path" for each of the first paths that differ from the
# backup when VERIFY is 1, and "ok" last.  Needs POSIX sh and GNU tar,
# coreutils, findutils, sed and grep; getfattr/setfattr when present.
set -u
export LC_ALL=C
mode=$1 dir=$2 root=$3 verify=$4 cap=$5
shift 5
cd "$root" || exit 70
umask 077
t=$dir/tmp
rm -rf "$t" && mkdir "$t" || exit 70

die() {
        printf 'mhc: %s\n' "$1" >&2
        exit 1
}

# The sorted manifest of the paths that exist (sockets left out: tar skips them).
manifest() {
        out=$1
        shift
        n=$#
        while [ "$n" -gt 0 ]; do
                p=$1
                shift
                n=$((n - 1))
                if [ -e "$p" ] || [ -L "$p" ]; then
                        set -- "$@" "$p"
                fi
        done
        if [ $# -eq 0 ]; then
                : >"$out"
                return 0
        fi
        find "$@" ! -type s \( -type d -printf 'd 0 %m %U %G %T@ %C@ %i %n %p\0' \
                -o -printf '%y %s %m %U %G %T@ %C@ %i %n %p\0' \) >"$out.u" || return 1
        sort -z "$out.u" >"$out" && rm -f "$out.u"
}

paths() {
        sed -z 's/^\([^ ]* \)\{9\}//' "$1" | sort -zu
}

count() {
        tr -cd '\000' <"$1" | wc -c
}

# Print the list $2 as records "$1 PATH", at most cap of them, and its size.
report() {
        sed -z "s/^/$1 /" "$2" | head -z -n "$cap"
        printf 'N%s %s\0' "$1" "$(count "$2")"
}

# The manifest less ctime and inode, for comparing with the backup.
strip() {
        sed -z 's/^\(\([^ ]* \)\{6\}\)[^ ]* [^ ]* /\1/' "$1" | sort -z
}

verify() {
        [ "$verify" = 1 ] || return 0
        strip "$dir/manifest" >"$t/v.old"
        strip "$1" >"$t/v.new"
        cmp -s "$t/v.old" "$t/v.new" && return 0
        comm -z -3 "$t/v.old" "$t/v.new" | sed -z 's/^[\t]*\([^ ]* \)\{7\}//' | sort -zu \
                | head -z -n 10 | sed -z 's/^/V /'
}

untar() {
        tar -x --xattrs --xattrs-include='*' --acls --numeric-owner -f "$dir/files.tar" \
                -C "$root" "$@" 2>"$t/tar.err" || die "tar failed: $(head -c 400 "$t/tar.err" | tr '\n' ' ')"
}

# tar adds the xattrs of a directory it does not re-create, it removes none.
clear_dir_xattrs() {
        command -v getfattr >/dev/null 2>&1 && command -v setfattr >/dev/null 2>&1 || return 0
        # The inner script's $d and $x are its own, not this one's.
        # shellcheck disable=SC2016
        xargs -0r sh -c 'for d; do
                [ -d "$d" ] && [ ! -L "$d" ] || continue
                getfattr -h -m "^user\\." --absolute-names -- "$d" 2>/dev/null |
                        grep "^user\\." | while IFS= read -r x; do
                                setfattr -h -x "$x" -- "$d" 2>/dev/null
                        done
        done' sh <"$1"
        return 0
}

case $mode in
backup)
        : >"$t/present"
        for p; do
                if [ -e "$p" ] || [ -L "$p" ]; then
                        printf '%s\0' "$p" >>"$t/present"
                fi
        done
        tar -c --format=posix --xattrs --xattrs-include='*' --acls --numeric-owner --sparse \
                -f "$dir/files.tar" -C "$root" --null --verbatim-files-from --no-unquote \
                -T "$t/present" 2>"$t/tar.err"
        [ $? -le 1 ] || die "tar failed: $(head -c 400 "$t/tar.err" | tr '\n' ' ')"
        manifest "$dir/manifest" "$@" || die "cannot list the backup paths"
        cp "$dir/manifest" "$dir/current" || exit 1
        ;;
restore)
        base=$dir/current
        manifest "$t/now" "$@" || die "cannot list the backup paths"
        if cmp -s "$base" "$t/now"; then
                printf 'unchanged\0'
                verify "$t/now"
                rm -rf "$t"
                printf 'ok\0'
                exit 0
        fi
        # Paths whose type and name are not in the baseline: new, or of another type.
        sed -z 's/^\([^ ]*\) \([^ ]* \)\{8\}/\1 /' "$base" | sort -z >"$t/tp.base"
        sed -z 's/^\([^ ]*\) \([^ ]* \)\{8\}/\1 /' "$t/now" | sort -z >"$t/tp.now"
        comm -z -13 "$t/tp.base" "$t/tp.now" | sed -z 's/^[^ ]* //' | sort -zu >"$t/remove"
        # Entries of the baseline not found as they were, with their hard links.
        comm -z -23 "$base" "$t/now" >"$t/changed"
        inodes=$(sed -z -n 's/^\([^ ]* \)\{7\}\([0-9]*\) \([2-9]\|[1-9][0-9][0-9]*\) .*/\2/p' \
                "$t/changed" | tr '\000' '\n' | sort -u | paste -sd '|' -)
        if [ -n "$inodes" ]; then
                grep -z -E "^([^ ]* ){7}($inodes) " "$base" >>"$t/changed"
        fi
        paths "$t/changed" >"$t/extract.0"
        # Parents whose mtime the removal and extraction change.
        paths "$base" >"$t/paths.base"
        cat "$t/extract.0" "$t/remove" | sed -z -n 's|/[^/]*$||p' | sort -zu \
                | comm -z -12 - "$t/paths.base" >"$t/parents"
        sort -zu "$t/extract.0" "$t/parents" >"$t/extract"
        if [ -s "$t/remove" ]; then
                sort -zr "$t/remove" | xargs -0r rm -rf -- || die "cannot remove new paths"
        fi
        if [ -s "$t/extract" ]; then
                clear_dir_xattrs "$t/extract"
                untar --no-recursion --null --verbatim-files-from --no-unquote --no-wildcards \
                        -T "$t/extract"
        fi
        printf 'changed\0'
        report R "$t/extract"
        report D "$t/remove"
        manifest "$t/after" "$@" || die "cannot list the backup paths"
        mv "$t/after" "$base" || exit 1
        verify "$base"
        ;;
full)
        manifest "$t/now" "$@" || die "cannot list the backup paths"
        paths "$dir/manifest" >"$t/extract"
        # Only what the backup has not (by type and name) goes; the rest stays
        # until tar writes over it, so that a full restore cut short (a killed
        # run's recovery) leaves no backed-up file missing: without
        # /etc/passwd, sshd lets nobody in, not even the next recovery.
        sed -z 's/^\([^ ]*\) \([^ ]* \)\{8\}/\1 /' "$dir/manifest" | sort -z >"$t/tp.base"
        sed -z 's/^\([^ ]*\) \([^ ]* \)\{8\}/\1 /' "$t/now" | sort -z >"$t/tp.now"
        comm -z -13 "$t/tp.base" "$t/tp.now" | sed -z 's/^[^ ]* //' | sort -zu >"$t/remove"
        if [ -s "$t/remove" ]; then
                sort -zr "$t/remove" | xargs -0r rm -rf -- || die "cannot remove new paths"
        fi
        if [ -s "$t/extract" ]; then
                clear_dir_xattrs "$t/extract"
                untar
        fi
        printf 'changed\0'
        report R "$t/extract"
        report D "$t/remove"
        manifest "$dir/current" "$@" || die "cannot list the backup paths"
        verify "$dir/current"
        ;;
*)
        die "unknown mode $mode"
        ;;
esac
rm -rf "$t"
printf 'ok\0'
