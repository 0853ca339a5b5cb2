#!/bin/sh
# mhc systemd host: file backup and change-aware restore (see hosts/systemd.c)
# usage: sh files.sh backup|restore|diff|full|rebase DIR ROOT VERIFY CAP PATH...
#
# Runs on the host, kept in the backup directory DIR from the backup on.
# PATHs are relative to ROOT ("/" on hosts; a scratch tree in the tests).
# backup saves them in DIR (files.tar, manifest, parents); restore puts back
# what changed since the backup or the last restore; diff says what restore
# would do and changes nothing; full puts back everything (it removes only
# what the backup has not and extracts all over the rest); rebase takes the
# paths as they are as the new baseline.  Every mode but diff ends with a
# new baseline: the stamp, the list "current" taken after it, and "probe",
# the shell that the next restore sources first: it is true when nothing
# under the paths changed since the stamp (one find), so that a restore
# that finds nothing to do runs no more than that.
#
# Nothing is written or removed outside the PATHs: a parent directory of a
# PATH that is a symbolic link or no directory any more is put back as the
# directory it was at backup (mode and owner) before anything else, and a
# link where no parent was is removed (the link, never what it points to).
#
# It prints NUL-terminated records: "unchanged" or "changed", "F" when the
# baseline was damaged and everything is put back, "R path" (restored),
# "D path" (removed) and "H path" (a hard link to a file outside the PATHs
# that could not be kept) up to CAP of each and "NR n"/"ND n" (their
# counts), "V path" for each of the first paths that differ from the
# backup when VERIFY is 1, and "ok" last.  Needs POSIX sh and GNU tar,
# coreutils, findutils, sed and grep, and getfattr and setfattr (attr).
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

count() {
        grep -zc '' <"$1"
}

# The sorted list of what exists under the paths, one record a file:
# type, size, mode, owner, group, mtime, ctime, inode, links, path.
list() {
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
        find "$@" \( -type d -printf 'd 0 %m %U %G %T@ %C@ %i %n %p\0' \
                -o -printf '%y %s %m %U %G %T@ %C@ %i %n %p\0' \) >"$out.u" || return 1
        sort -z "$out.u" >"$out" && rm -f "$out.u"
}

# Keep list $1 as $2, whole or not at all: it ends with "#end N", N the
# records before, and replaces $2 in one rename.
save() {
        { cat "$1" && printf '#end %s\0' "$(count "$1")"; } >"$2.new" && mv "$2.new" "$2"
}

# The records of the list $1 that save() kept, into $2; false if it is
# missing, cut short or not one that save() wrote.
load() {
        [ -f "$1" ] || return 1
        n=$(count "$1")
        [ "$n" -gt 0 ] || return 1
        [ "$(tail -z -n 1 "$1" | tr -d '\000')" = "#end $((n - 1))" ] || return 1
        head -z -n -1 "$1" >"$2"
}

paths() {
        sed -z 's/^\([^ ]* \)\{9\}//' "$1" | sort -zu
}

# Print the list $2 as records "$1 PATH", at most cap of them, and its size.
report() {
        sed -z "s/^/$1 /" "$2" | head -z -n "$cap"
        printf 'N%s %s\0' "$1" "$(count "$2")"
}

# The list less ctime and inode, for comparing with the backup.
strip() {
        sed -z 's/^\(\([^ ]* \)\{6\}\)[^ ]* [^ ]* /\1/' "$1" | sort -z
}

# Type and path of each record.
types() {
        sed -z 's/^\([^ ]*\) \([^ ]* \)\{8\}/\1 /' "$1" | sort -z
}

verify() {
        [ "$verify" = 1 ] || return 0
        strip "$t/manifest" >"$t/v.old"
        strip "$1" >"$t/v.new"
        cmp -s "$t/v.old" "$t/v.new" && return 0
        comm -z -3 "$t/v.old" "$t/v.new" | sed -z 's/^[\t]*\([^ ]* \)\{7\}//' | sort -zu \
                | head -z -n 10 | sed -z 's/^/V /'
}

# The stamp, older than anything that changes from now on: wait until the
# clock (of file times) has moved past it.  Made in place, so that its
# ctime is its mtime.
stamp() {
        : >"$dir/stamp" || exit 70
        i=0
        until [ -n "$(find "$t/tick" -newer "$dir/stamp" 2>/dev/null)" ]; do
                i=$((i + 1))
                [ "$i" -le 300 ] || die "the clock of file times does not move on"
                [ "$i" -le 20 ] || sleep 0.01
                : >"$t/tick" || exit 70
        done
}

# One shell word for the probe.
quote() {
        case $1 in
        *\'*)
                q=$(printf '%sx' "$1" | sed "s/'/'\\\\''/g")
                printf "'%s' " "${q%x}"
                ;;
        *)
                printf "'%s' " "$1"
                ;;
        esac
}

# The probe of the baseline just taken (see above): the parents are the
# directories they were, each path exists or not as it did, and find finds
# nothing changed since the stamp (nor a stamp from the future: the clock
# went back).
probe() {
        {
                printf '# made by files.sh: true if the paths are as at the last baseline\n'
                printf 'cd %s&& ' "$(quote "$root")"
                for_parents probe_parent "$@"
                n=$#
                while [ "$n" -gt 0 ]; do
                        p=$1
                        shift
                        n=$((n - 1))
                        if [ -e "$p" ] || [ -L "$p" ]; then
                                printf '{ [ -e %s] || [ -L %s]; } && ' "$(quote "$p")" "$(quote "$p")"
                                set -- "$@" "$p"
                        else
                                printf '[ ! -e %s] && [ ! -L %s] && ' "$(quote "$p")" "$(quote "$p")"
                        fi
                done
                printf 'find %s' "$(quote "$dir/stamp")"
                for p; do
                        quote "$p"
                done
                printf '\\( -newercm %s-o -newermt now \\) -fprint %s-quit 2>/dev/null && ' \
                        "$(quote "$dir/stamp")" "$(quote "$t.probe")"
                printf '[ ! -s %s]\n' "$(quote "$t.probe")"
        } >"$dir/probe.new" && mv "$dir/probe.new" "$dir/probe"
}

probe_parent() {
        [ -d "$3" ] && [ ! -L "$3" ] || return 1
        printf '[ -d %s] && [ ! -L %s] && ' "$(quote "$3")" "$(quote "$3")"
}

# The new baseline: the list $1, taken after the stamp.
baseline() {
        save "$1" "$dir/current" || exit 1
        shift
        probe "$@" || exit 1
}

# Call $1 I J PARENT for each parent directory of each path, from the top:
# the J-th of the I-th path; it returns non-zero to skip that path's others.
for_parents() {
        fn=$1
        shift
        i=0
        for p; do
                i=$((i + 1))
                j=0
                a=
                rest=$p
                while [ "${rest#*/}" != "$rest" ]; do
                        a=${a:+$a/}${rest%%/*}
                        rest=${rest#*/}
                        j=$((j + 1))
                        "$fn" "$i" "$j" "$a" || break
                done
        done
}

# The parents of the paths, each a line "I J KIND MODE UID GID" for the
# J-th parent from the top of the I-th path: KIND d (a directory) or - (it
# was not there); a path whose parent is a symbolic link is refused.
parents() {
        for_parents record_parent "$@"
}

record_parent() {
        if [ -L "$3" ]; then
                die "backup path /$p: /$3 is a symbolic link: name the path it leads to"
        elif [ -d "$3" ]; then
                printf '%s %s d %s\n' "$1" "$2" "$(stat -c '%a %u %g' -- "$3")"
        else
                printf '%s %s -\n' "$1" "$2"
                return 1
        fi
}

# Put the parents back as parents() found them at backup, before anything
# is listed through them; with $1 = diff, only say which paths need it.
# Prints "A path" for a parent put back and "D path" for a link removed;
# $skip gets the numbers of the paths below them (" 1 3 ").
fix_parents() {
        how=$1
        shift
        skip=" "
        for_parents fix_parent "$@"
}

fix_parent() {
        rec=$(grep -m 1 "^$1 $2 " "$dir/parents") || rec="$1 $2 -"
        read -r _ _ kind m u g <<EOF
$rec
EOF
        if [ "$kind" != d ]; then
                if [ -L "$3" ]; then
                        printf 'D %s\0' "$3"
                        skip="$skip$1 "
                        [ "$how" = diff ] || rm -f -- "$3" || die "cannot remove /$3"
                fi
                return 1
        fi
        [ -d "$3" ] && [ ! -L "$3" ] && return 0
        printf 'A %s\0' "$3"
        skip="$skip$1 "
        [ "$how" != diff ] || return 1
        if [ -L "$3" ] || [ -e "$3" ]; then
                rm -f -- "$3" || die "cannot remove /$3"
        fi
        if ! mkdir -m "$m" -- "$3" || ! chown "$u:$g" -- "$3"; then
                die "cannot put back the directory /$3"
        fi
}

untar() {
        tar -x --xattrs --xattrs-include='*' --acls --numeric-owner \
                -f "$dir/files.tar" -C "$root" "$@" 2>"$t/tar.err" ||
                die "tar failed: $(head -c 400 "$t/tar.err" | tr '\n' ' ')"
}

# tar adds the xattrs of what it writes over without re-creating it (a
# directory, a file written in place), it removes none: remove them all
# first, of every namespace: of the directories of list $1, and with $2 =
# files, of its regular files too.
clear_xattrs() {
        # The inner script's $0, $d and $x are its own, not this one's.
        # shellcheck disable=SC2016
        xargs -0r sh -c 'for d; do
                [ ! -L "$d" ] || continue
                [ -d "$d" ] || { [ "$0" = files ] && [ -f "$d" ]; } || continue
                getfattr -h -m - --absolute-names -- "$d" 2>/dev/null |
                        grep -v "^# file: " | grep . | while IFS= read -r x; do
                                setfattr -h -x "$x" -- "$d" 2>/dev/null
                        done
        done' "${2:-dirs}" <"$1"
        return 0
}

# Put back each file of list $1 in place, its inode kept, so that its
# links outside the paths keep it too: extracted aside, then its contents,
# owner, mode, times and extended attributes (ACLs too) copied over.
in_place() {
        mkdir "$t/aside" || exit 70
        tar -x --xattrs --xattrs-include='*' --acls --numeric-owner -f "$dir/files.tar" \
                -C "$t/aside" --no-recursion --null --verbatim-files-from --no-unquote \
                --no-wildcards -T "$1" 2>"$t/tar.err" ||
                die "tar failed: $(head -c 400 "$t/tar.err" | tr '\n' ' ')"
        # The inner script's $0, $f, $x and $kv are its own, not this one's.
        # shellcheck disable=SC2016
        xargs -0r sh -c 'for f; do
                x=$0/$f
                [ -f "$x" ] && [ -f "$f" ] && [ ! -L "$f" ] || continue
                cat -- "$x" >"$f" || exit 1
                getfattr -h -m - --absolute-names -- "$f" 2>/dev/null |
                        grep -v "^# file: " | grep . | while IFS= read -r kv; do
                                setfattr -h -x "$kv" -- "$f" 2>/dev/null
                        done
                getfattr -h -d -m - -e base64 --absolute-names -- "$x" 2>/dev/null |
                        grep -v "^# file: " | grep = | while IFS= read -r kv; do
                                setfattr -h -n "${kv%%=*}" -v "${kv#*=}" -- "$f" || exit 1
                        done
                chown --reference="$x" -- "$f" && chmod --reference="$x" -- "$f" &&
                        touch -r "$x" -- "$f" || exit 1
        done' "$t/aside" <"$1" || die "cannot put back files in place"
}

# What restore must do, from the baseline $1 and the list $2 of now:
# $t/remove (new paths, or of another type) and $t/extract.
plan() {
        types "$1" >"$t/tp.base"
        types "$2" >"$t/tp.now"
        comm -z -13 "$t/tp.base" "$t/tp.now" | sed -z 's/^[^ ]* //' | sort -zu >"$t/remove"
        # Entries of the baseline not found as they were, with their hard
        # links; sockets cannot be put back (tar has none), only removed.
        comm -z -23 "$1" "$2" | grep -z -v '^s ' >"$t/changed"
        inodes=$(sed -z -n 's/^\([^ ]* \)\{7\}\([0-9]*\) \([2-9]\|[1-9][0-9][0-9]*\) .*/\2/p' \
                "$t/changed" | tr '\000' '\n' | sort -u | paste -sd '|' -)
        if [ -n "$inodes" ]; then
                grep -z -E "^([^ ]* ){7}($inodes) " "$1" >"$t/links"
                cat "$t/links" >>"$t/changed"
                # Files with fewer names under the paths than links have the
                # others outside; tar writes over them in place, but one
                # whose inode is another now has lost them.
                outside=$(grep -z -v '^d ' "$t/links" |
                        sed -z 's/^\([^ ]* \)\{7\}\([0-9]*\) \([0-9]*\) .*/\2 \3/' |
                        tr '\000' '\n' | sort | uniq -c |
                        while read -r seen inode links; do
                                [ "$seen" -ge "$links" ] || printf '%s\n' "$inode"
                        done | paste -sd '|' -)
                if [ -n "$outside" ]; then
                        grep -z -E "^([^ ]* ){7}($outside) " "$t/links" | inode_paths | sort -z >"$t/ip.base"
                        inode_paths <"$2" | sort -z >"$t/ip.now"
                        comm -z -23 "$t/ip.base" "$t/ip.now" | sed -z 's/^[0-9]* //' | sort -zu >"$t/broken"
                        comm -z -12 "$t/ip.base" "$t/ip.now" | sed -z 's/^[0-9]* //' | sort -zu >"$t/inplace"
                fi
        fi
        paths "$t/changed" >"$t/extract.0"
        # Parents whose mtime the removal and extraction change.
        paths "$1" >"$t/paths.base"
        cat "$t/extract.0" "$t/remove" | sed -z -n 's|/[^/]*$||p' | sort -zu \
                | comm -z -12 - "$t/paths.base" >"$t/parents"
        sort -zu "$t/extract.0" "$t/parents" >"$t/extract"
        comm -z -23 "$t/extract" "$t/inplace" >"$t/extract.new"
}

# "inode path" of each record on stdin.
inode_paths() {
        sed -z 's/^\([^ ]* \)\{7\}\([0-9]*\) [0-9]* /\2 /'
}

# The probe is of the baseline that this changes, if any.
[ "$mode" = diff ] || rm -f "$dir/probe" || exit 70

# The backup and its own list, as save() kept them.
load "$dir/manifest" "$t/manifest" 2>/dev/null || [ "$mode" = backup ] ||
        die "the backup in $dir is damaged: its list (manifest) is missing or cut short"

case $mode in
backup)
        if ! command -v getfattr >/dev/null 2>&1 || ! command -v setfattr >/dev/null 2>&1; then
                die "getfattr and setfattr are missing (package attr): they put back the extended attributes of directories"
        fi
        parents "$@" >"$t/parents" || exit 1
        mv "$t/parents" "$dir/parents" || exit 1
        : >"$t/present"
        for p; do
                if [ -e "$p" ] || [ -L "$p" ]; then
                        printf '%s\0' "$p" >>"$t/present"
                fi
        done
        # Listed before tar, then checked after it: a file that changed
        # meanwhile (ctime past the stamp) may be archived torn; try again.
        try=1
        while :; do
                stamp
                list "$t/list" "$@" || die "cannot list the backup paths"
                tar -c --format=posix --xattrs --xattrs-include='*' --acls --numeric-owner --sparse \
                        -f "$dir/files.tar" -C "$root" --null --verbatim-files-from --no-unquote \
                        -T "$t/present" 2>"$t/tar.err"
                status=$?
                [ "$status" -le 1 ] || die "tar failed: $(head -c 400 "$t/tar.err" | tr '\n' ' ')"
                moved=
                if [ -s "$t/present" ]; then
                        # The inner script's $0 and $@ are its own.
                        # shellcheck disable=SC2016
                        moved=$(xargs -0 sh -c 'find "$@" -newercm "$0" -print -quit' "$dir/stamp" \
                                <"$t/present" | head -n 1)
                fi
                [ "$status" = 1 ] && [ -z "$moved" ] && moved=$(head -n 1 "$t/tar.err")
                [ -n "$moved" ] || break
                [ "$try" -lt 3 ] || die "/$moved changed while it was backed up, 3 times: stop what writes it first"
                try=$((try + 1))
                sleep 0.2
        done
        save "$t/list" "$dir/manifest" || exit 1
        baseline "$t/list" "$@"
        ;;
restore | diff)
        if ! load "$dir/current" "$t/base"; then
                # A baseline that cannot be trusted: everything comes back.
                printf 'F\0'
                cp "$t/manifest" "$t/base" || exit 1
                : >"$t/current.bad"
        fi
        fix_parents "$mode" "$@"
        # diff lists no path through a parent that is not put back yet.
        if [ "$mode" = diff ] && [ "$skip" != " " ]; then
                i=0
                n=$#
                while [ "$i" -lt "$n" ]; do
                        i=$((i + 1))
                        p=$1
                        shift
                        case $skip in *" $i "*) continue ;; esac
                        set -- "$@" "$p"
                done
        fi
        list "$t/now" "$@" || die "cannot list the backup paths"
        if [ ! -e "$t/current.bad" ] && [ "$skip" = " " ] && cmp -s "$t/base" "$t/now"; then
                printf 'unchanged\0'
                verify "$t/now"
                [ "$mode" = diff ] && { rm -rf "$t"; printf 'ok\0'; exit 0; }
                # A new stamp, and the list again after it (rarely: the probe
                # saw a change that was not one, or there was no probe).
                stamp
                list "$t/now" "$@" || die "cannot list the backup paths"
                baseline "$t/now" "$@"
                rm -rf "$t"
                printf 'ok\0'
                exit 0
        fi
        : >"$t/broken"
        : >"$t/inplace"
        plan "$t/base" "$t/now"
        printf 'changed\0'
        report R "$t/extract"
        report D "$t/remove"
        sed -z 's/^/H /' "$t/broken" | head -z -n "$cap"
        [ "$mode" = diff ] && { rm -rf "$t"; printf 'ok\0'; exit 0; }
        if [ -s "$t/remove" ]; then
                sort -zr "$t/remove" | xargs -0r rm -rf -- || die "cannot remove new paths"
        fi
        # Files with names outside the paths are written over in place.
        if [ -s "$t/extract.new" ]; then
                clear_xattrs "$t/extract.new"
                untar --no-recursion --null --verbatim-files-from --no-unquote --no-wildcards \
                        -T "$t/extract.new"
        fi
        if [ -s "$t/inplace" ]; then
                in_place "$t/inplace"
        fi
        stamp
        list "$t/after" "$@" || die "cannot list the backup paths"
        verify "$t/after"
        baseline "$t/after" "$@"
        ;;
full)
        fix_parents full "$@"
        list "$t/now" "$@" || die "cannot list the backup paths"
        paths "$t/manifest" >"$t/extract"
        # Only what the backup has not (by type and name) goes; the rest stays
        # until tar writes over it, so that a full restore cut short (a killed
        # run's recovery) leaves no backed-up file missing: without
        # /etc/passwd, sshd lets nobody in, not even the next recovery.
        types "$t/manifest" >"$t/tp.base"
        types "$t/now" >"$t/tp.now"
        comm -z -13 "$t/tp.base" "$t/tp.now" | sed -z 's/^[^ ]* //' | sort -zu >"$t/remove"
        if [ -s "$t/remove" ]; then
                sort -zr "$t/remove" | xargs -0r rm -rf -- || die "cannot remove new paths"
        fi
        if [ -s "$t/extract" ]; then
                clear_xattrs "$t/extract"
                untar
        fi
        printf 'changed\0'
        report R "$t/extract"
        report D "$t/remove"
        stamp
        list "$t/after" "$@" || die "cannot list the backup paths"
        verify "$t/after"
        baseline "$t/after" "$@"
        ;;
rebase)
        stamp
        list "$t/now" "$@" || die "cannot list the backup paths"
        baseline "$t/now" "$@"
        ;;
*)
        die "unknown mode $mode"
        ;;
esac
rm -rf "$t"
printf 'ok\0'
