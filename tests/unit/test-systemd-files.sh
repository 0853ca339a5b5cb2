#!/bin/sh
# The systemd host type's file script (hosts/systemd-files.sh) on a scratch
# root directory, no lab needed, called as hosts/systemd.c calls it on a
# host: kept in the backup directory at backup, then run from there.  Every
# kind of change (content, mode, owner, times, new and removed files,
# symlinks, directories, hard links, odd names, xattrs and ACLs where the
# file system has them) is undone exactly by restore and by full, an
# unchanged tree is reported unchanged, and the records say what was done.
# check() evaluates its first argument itself, quoted so that it can:
# shellcheck disable=SC2016
set -eu

srcdir=${MH_TEST_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
script=$srcdir/hosts/systemd-files.sh
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mhc-test-systemd-files.XXXXXX")
finished=no
trap 'rm -rf "$scratch"; [ "$finished" = yes ] || echo "FAIL: stopped early" >&2' EXIT
root=$scratch/root
bk=$scratch/backup
out=$scratch/out
failures=0
checks=0

fail() {
        printf 'FAIL: %s\n' "$*" >&2
        failures=$((failures + 1))
}

check() {
        checks=$((checks + 1))
        if ! eval "$1"; then
                fail "$2"
        fi
}

# The script as the C code runs it, with the backup paths relative to the
# root; its records, one a line, go to $out and its status to $status.
files() {
        status=0
        sh "$bk/files.sh" "$1" "$bk" "$root" "$2" "$3" etc/app "srv/my data" var/absent \
                >"$out.z" 2>"$out.err" || status=$?
        tr '\0' '\n' <"$out.z" >"$out"
}

# Whether the last run printed exactly the records given, one an argument.
records_are() {
        printf '%s\n' "$@" | cmp -s - "$out"
}

has_record() {
        grep -qxF -- "$1" "$out"
}

n_records() {
        grep -c -- "^$1" "$out" || true
}

# Everything restore must put back: metadata, contents, xattrs and ACLs of
# the backup paths (not their ctime or inode, nor a directory's size).
snapshot() {
        (
                cd "$root"
                set --
                for p in etc/app "srv/my data" var/absent; do
                        if [ -e "$p" ] || [ -L "$p" ]; then
                                set -- "$@" "$p"
                        fi
                done
                find "$@" \( -type d -printf 'd - %m %U %G %T@ %n %p\0' \
                        -o -printf '%y %s %m %U %G %T@ %n %p -> %l\0' \) | sort -z | tr '\0' '\n'
                find "$@" -type f -print0 | sort -z | xargs -0 cksum
                if [ "$xattrs" = yes ]; then
                        find "$@" -print0 | sort -z |
                                xargs -0 getfattr -h -d -m '^user\.' --absolute-names 2>/dev/null
                fi
                if [ "$acls" = yes ]; then
                        find "$@" ! -type l -print0 | sort -z | xargs -0 getfacl -p -n 2>/dev/null
                fi
        )
}

# Whether the tree is as it was at backup; if not, how it differs.
same_as_before() {
        snapshot >"$scratch/now"
        diff -u "$scratch/before" "$scratch/now" >&2
}

make_tree() {
        rm -rf "$root"
        mkdir -p "$root/etc/app/sub/deep" "$root/srv/my data/empty" "$root/var"
        (
                cd "$root/etc/app"
                echo hello >conf
                echo secret >mode
                chmod 640 mode
                ln -s conf link
                echo linked >hard1
                ln hard1 hard2
                echo a >sub/a
                echo b >sub/deep/b
                printf x >"$(printf 'new\nline')"
                echo q >"it's \"q\" \$(true) *"
                echo dash >-dash
                touch -d '2020-01-02 03:04:05.123456789' sub/deep/b sub/deep
                if [ "$(id -u)" = 0 ]; then
                        chown 1234:5678 mode
                fi
                if [ "$xattrs" = yes ]; then
                        setfattr -n user.color -v blue conf
                        setfattr -n user.kind -v dir sub
                fi
                if [ "$acls" = yes ]; then
                        setfacl -m u:4321:r mode
                        setfacl -d -m u:4321:rx sub
                fi
        )
        echo db >"$root/srv/my data/db"
}

# Change everything restore must undo.
mess_up() {
        (
                cd "$root/etc/app"
                echo changed >>conf
                chmod 600 mode
                ln -sfn mode link
                ln -sfn nowhere link2
                echo more >>hard1
                rm -rf sub/deep/b sub/a
                mkdir sub/a
                echo new >new
                mkdir -p newdir/x
                echo y >newdir/x/y
                rm -f "$(printf 'new\nline')"
                touch -d 2001-01-01 -- -dash
                if [ "$(id -u)" = 0 ]; then
                        chown 1:1 sub
                fi
                if [ "$xattrs" = yes ]; then
                        setfattr -x user.color conf 2>/dev/null || true
                        setfattr -n user.other -v 1 sub
                        setfattr -n user.other -v 2 hard2
                fi
                if [ "$acls" = yes ]; then
                        setfacl -b mode
                        setfacl -m u:99:rwx new
                fi
        )
        rm -rf "$root/srv/my data/empty"
        mkdir -p "$root/var/absent/f"
}

mkdir "$root"
xattrs=no
acls=no
if command -v setfattr >/dev/null && command -v getfattr >/dev/null &&
        touch "$root/probe" && setfattr -n user.probe -v 1 "$root/probe" 2>/dev/null; then
        xattrs=yes
fi
if command -v setfacl >/dev/null && command -v getfacl >/dev/null &&
        setfacl -m u:4321:r "$root/probe" 2>/dev/null; then
        acls=yes
fi
echo "test-systemd-files: xattrs: $xattrs, ACLs: $acls"
make_tree

# Backup: the script is sent along on stdin and kept in the backup directory.
mkdir -m 700 "$bk"
(umask 077 && cat >"$bk/files.sh") <"$script"
files backup 0 1000
check '[ "$status" = 0 ]' "backup exited with $status: $(cat "$out.err")"
check 'records_are ok' "backup printed: $(cat "$out")"
check '[ -s "$bk/files.tar" ] && [ -s "$bk/manifest" ] && [ -s "$bk/current" ]' \
        "backup left no files.tar, manifest and current in $bk"
check '[ ! -e "$bk/tmp" ]' "backup left $bk/tmp behind"
snapshot >"$scratch/before"
if [ "$xattrs" = yes ]; then
        check 'grep -qx "user.color=\"blue\"" "$scratch/before"' "no xattr in the snapshot"
fi
if [ "$acls" = yes ]; then
        check 'grep -qx "user:4321:r--" "$scratch/before"' "no ACL in the snapshot"
fi

# An unchanged tree is unchanged, also when verified.
files restore 1 1000
check '[ "$status" = 0 ] && records_are unchanged ok' \
        "restore of an unchanged tree: status $status, records: $(cat "$out")"
check 'same_as_before' "restore of an unchanged tree changed it"

# Every kind of change, undone.
mess_up
check '! same_as_before 2>/dev/null' "mess_up changed nothing the snapshot sees"
files restore 1 1000
check '[ "$status" = 0 ]' "restore exited with $status: $(cat "$out.err")"
check 'same_as_before' "restore did not put the tree back"
check '[ "$(head -n 1 "$out")" = changed ] && [ "$(tail -n 1 "$out")" = ok ]' \
        "restore records: $(cat "$out")"
for r in "R etc/app/conf" "R etc/app/mode" "R etc/app/link" "R etc/app/hard1" "R etc/app/hard2" \
        "R etc/app/sub/deep/b" "R etc/app/sub/a" "R etc/app/-dash" "R srv/my data/empty" \
        "R etc/app" "D etc/app/link2" "D etc/app/new" "D etc/app/newdir" "D etc/app/sub/a" \
        "D var/absent" "NR $(n_records 'R ')" "ND $(n_records 'D ')"; do
        check 'has_record "$r"' "restore did not report '$r': $(tr '\n' '|' <"$out")"
done
check '[ "$(n_records "V ")" = 0 ]' "restore reports differences: $(grep '^V ' "$out")"
check '[ ! -e "$bk/tmp" ]' "restore left $bk/tmp behind"

files restore 0 1000
check '[ "$status" = 0 ] && records_are unchanged ok' \
        "restore after restore: status $status, records: $(cat "$out")"

# The restored tree is the baseline now: a change of another hard link of
# a group and of a directory's times alone come back too.
echo again >"$root/etc/app/hard2"
touch -d 1999-01-01 "$root/etc/app/sub"
files restore 0 1000
check '[ "$status" = 0 ] && same_as_before' "second restore did not put the tree back"
check 'has_record "R etc/app/hard1" && has_record "R etc/app/sub" && has_record "ND 0"' \
        "second restore records: $(tr '\n' '|' <"$out")"

# One name of a hard-linked file gone, each in turn (one of them is the
# file in the archive, the other a link to it): both names come back.
for name in hard1 hard2; do
        mv "$root/etc/app/$name" "$root/etc/app/renamed"
        files restore 0 1000
        check '[ "$status" = 0 ] && same_as_before' "restore of a renamed $name: $(cat "$out.err")"
        check 'has_record "R etc/app/hard1" && has_record "R etc/app/hard2" &&
                has_record "D etc/app/renamed"' "restore of a renamed $name: $(tr '\n' '|' <"$out")"
done

# The lists stop at CAP records; the counts do not.
for i in 1 2 3; do
        echo "$i" >"$root/etc/app/extra$i"
done
echo changed >"$root/etc/app/conf"
files restore 0 1
check '[ "$status" = 0 ] && same_as_before' "capped restore did not put the tree back"
check '[ "$(n_records "R ")" = 1 ] && [ "$(n_records "D ")" = 1 ] && has_record "ND 3"' \
        "capped restore records: $(tr '\n' '|' <"$out")"

# full puts everything back, and is the baseline of the next restore.
mess_up
files full 1 1000
check '[ "$status" = 0 ]' "full exited with $status: $(cat "$out.err")"
check 'same_as_before' "full did not put the tree back"
check '[ "$(head -n 1 "$out")" = changed ] && [ "$(tail -n 1 "$out")" = ok ]' \
        "full records: $(tr '\n' '|' <"$out")"
check 'has_record "D etc/app/new" && has_record "D var/absent" && [ "$(n_records "V ")" = 0 ]' \
        "full records: $(tr '\n' '|' <"$out")"
files restore 0 1000
check '[ "$status" = 0 ] && records_are unchanged ok' \
        "restore after full: status $status, records: $(cat "$out")"

# full cut short (here: before tar, as when the run doing it is killed)
# has removed only what the backup has not: every backed-up file is still
# there (a host without /etc/passwd lets nobody in over SSH to finish it).
mess_up
mv "$bk/files.tar" "$scratch/files.tar"
files full 0 1000
check '[ "$status" = 1 ] && grep -q "^mhc: tar failed: " "$out.err"' \
        "full without files.tar: status $status, stderr: $(cat "$out.err")"
check '[ -f "$root/etc/app/conf" ] && [ -f "$root/etc/app/mode" ] && [ -f "$root/srv/my data/db" ] &&
        [ -L "$root/etc/app/link" ] && [ -f "$root/etc/app/hard2" ]' \
        "full cut short removed backed-up files: $(cd "$root" && find . | sort | tr '\n' ' ')"
check '[ ! -e "$root/etc/app/new" ] && [ ! -e "$root/var/absent" ]' \
        "full cut short left new paths: $(cd "$root" && find . | sort | tr '\n' ' ')"
mv "$scratch/files.tar" "$bk/files.tar"
files full 0 1000
check '[ "$status" = 0 ] && same_as_before' "full after a cut-short one: $(cat "$out.err")"

# verify names the paths that differ from the backup (here: a manifest
# that says conf had another mode).
cp "$bk/manifest" "$scratch/manifest"
sed -z 's/^\(f [0-9]* \)[0-7]* \(.* etc\/app\/conf\)$/\1604 \2/' "$scratch/manifest" >"$bk/manifest"
files restore 1 1000
check '[ "$status" = 0 ] && records_are unchanged "V etc/app/conf" ok' \
        "verify against another manifest: status $status, records: $(tr '\n' '|' <"$out")"
cp "$scratch/manifest" "$bk/manifest"

# Failures: a message on stderr, exit status 1, no "ok".
echo changed >"$root/etc/app/conf"
mv "$bk/files.tar" "$scratch/files.tar"
files restore 0 1000
check '[ "$status" = 1 ] && ! has_record ok && grep -q "^mhc: tar failed: " "$out.err"' \
        "restore without files.tar: status $status, stderr: $(cat "$out.err")"
mv "$scratch/files.tar" "$bk/files.tar"
files restore 0 1000
check '[ "$status" = 0 ] && same_as_before' "restore after a failed one: $(cat "$out.err")"
files bogus 0 1000
check '[ "$status" = 1 ] && [ "$(cat "$out.err")" = "mhc: unknown mode bogus" ]' \
        "unknown mode: status $status, stderr: $(cat "$out.err")"


# The probe of the baseline (sourced, as hosts/systemd.c does): true while
# nothing changed, false after any change, a missing stamp or a clock that
# went back.
probe() {
        # The probe is written by the script under test.
        # shellcheck disable=SC1091
        (. "$bk/probe") >/dev/null 2>&1
}
files restore 0 1000
check 'probe' "probe after a restore says changed: $(cat "$bk/probe")"
for change in "echo x >>'$root/etc/app/conf'" "chmod 600 '$root/etc/app/conf'" \
        "touch '$root/srv/my data/new'" "rm '$root/srv/my data/db'" \
        "mkdir -p '$root/var/absent'" "ln '$root/etc/app/conf' '$scratch/outside-link'" \
        "touch -d tomorrow '$bk/stamp'" "rm '$bk/stamp'"; do
        eval "$change"
        check '! probe' "probe after '$change' says unchanged"
        files restore 0 1000
        check '[ "$status" = 0 ] && same_as_before && probe' \
                "restore after '$change': status $status, $(cat "$out.err")"
done
rm -f "$scratch/outside-link"
files restore 0 1000

# A parent of a backup path swapped for a link: nothing is written or
# removed through it, and the directory comes back.
mkdir -p "$scratch/victim/app"
echo victim >"$scratch/victim/app/conf"
mv "$root/etc" "$scratch/etc.moved"
ln -s "$scratch/victim" "$root/etc"
files diff 0 1000
check '[ "$status" = 0 ] && has_record "A etc" && [ -L "$root/etc" ]' \
        "diff with a symlinked parent: status $status, $(tr '\n' '|' <"$out")"
files restore 0 1000
check '[ "$status" = 0 ] && has_record "A etc" && [ -d "$root/etc" ] && [ ! -L "$root/etc" ]' \
        "restore with a symlinked parent: status $status, $(tr '\n' '|' <"$out")"
check '[ "$(cat "$scratch/victim/app/conf")" = victim ] && [ "$(ls "$scratch/victim/app")" = conf ]' \
        "restore with a symlinked parent changed what the link leads to"
check 'same_as_before' "restore with a symlinked parent did not put the tree back"
rm -rf "$scratch/etc.moved"

# A baseline cut short or missing puts everything back; a damaged backup
# list is refused.
for damage in "truncate -s -3" "rm -f"; do
        mess_up
        $damage "$bk/current"
        files restore 0 1000
        check '[ "$status" = 0 ] && has_record F && same_as_before' \
                "restore after '$damage current': status $status, $(tr '\n' '|' <"$out")"
done
cp "$bk/manifest" "$scratch/manifest"
truncate -s -3 "$bk/manifest"
files restore 0 1000
check '[ "$status" = 1 ] && grep -q "is damaged" "$out.err"' \
        "restore with a damaged manifest: status $status, $(cat "$out.err")"
cp "$scratch/manifest" "$bk/manifest"
files restore 0 1000

# A socket that appears is removed.
if command -v python3 >/dev/null; then
        python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
                "$root/etc/app/sock"
        check '[ -S "$root/etc/app/sock" ]' "no socket made"
        files restore 0 1000
        check '[ "$status" = 0 ] && [ ! -e "$root/etc/app/sock" ] && same_as_before' \
                "restore after a socket: status $status, $(tr '\n' '|' <"$out")"
fi

# Extended attributes of every namespace added to a directory are removed.
if [ "$xattrs" = yes ] && [ "$(id -u)" = 0 ] &&
        setfattr -n trusted.mhc -v 1 "$root/etc/app/sub" 2>/dev/null; then
        files restore 0 1000
        check '! getfattr -h -n trusted.mhc "$root/etc/app/sub" >/dev/null 2>&1' \
                "trusted.mhc on a directory survived the restore"
fi

# Without getfattr and setfattr, backup is refused, saying why.
mkdir "$scratch/bin"
for tool in sh tar find sort sed grep cat mv rm mkdir tr wc head tail stat cp comm paste \
        uniq xargs sleep chown chmod touch date cmp; do
        ln -s "$(command -v "$tool")" "$scratch/bin/$tool"
done
mkdir -m 700 "$scratch/bk2"
cp "$bk/files.sh" "$scratch/bk2/files.sh"
status=0
PATH=$scratch/bin sh "$scratch/bk2/files.sh" backup "$scratch/bk2" "$root" 0 10 etc/app \
        >/dev/null 2>"$out.err" || status=$?
check '[ "$status" = 1 ] && grep -q "getfattr and setfattr are missing" "$out.err"' \
        "backup without getfattr: status $status, $(cat "$out.err")"

finished=yes
echo "test-systemd-files: $checks checks, $failures failed"
[ "$failures" = 0 ]
