# shellcheck shell=sh
# The outcome checks of a test on a host (src/lib/outcome.c embeds this file
# and runs it with sh -c after each test): what went wrong on the host since
# the test started, read from the journal and systemd.
#
#   sh -c SCRIPT mhc-outcome SINCE CHECK...
#       SINCE: the test's start, seconds since the epoch (host clock);
#       CHECK: core-dumps | denials | oopses | failed-units.
#
# Prints one line per finding, "F CHECK SUMMARY", each followed by its
# evidence, "E CHECK LINE" (at most EVIDENCE_MAX lines a check). Exits 0
# also when something is found; non-zero only when it cannot look.
set -u

since=$1
shift
EVIDENCE_MAX=200
# systemd-coredump's "Process N (NAME) of user U dumped core."
COREDUMP_ID=fc2e22bc6ee647b6b90729ab34a250b1

command -v journalctl >/dev/null 2>&1 || { echo 'mhc: no journalctl on the host' >&2; exit 1; }

journal() { # journalctl ARG... since the test started, messages only
        journalctl -q --no-pager --since "@$since" -o cat "$@" 2>/dev/null
}

# Lines on stdin as evidence of check $1 (capped).
evidence() {
        head -n "$EVIDENCE_MAX" | sed "s/^/E $1 /"
}

core_dumps() {
        # systemd-coredump hands each dump to a service of its own, which logs
        # it a moment later: let those that run finish (at most 20 s)
        i=0
        while [ "$i" -lt 100 ] && [ -n "$(systemctl list-units --no-legend --plain --state=active \
                'systemd-coredump@*' 2>/dev/null)" ]; do
                sleep 0.2
                i=$((i + 1))
        done
        # systemd-coredump's records: the program, its pid and signal
        journal MESSAGE_ID=$COREDUMP_ID >"$tmp"
        n=0
        while IFS= read -r line; do
                case $line in
                "Process "*" dumped core.") echo "F core-dumps $line" ;;
                *) n=$((n + 1)); [ "$n" -gt "$EVIDENCE_MAX" ] || echo "E core-dumps $line" ;;
                esac
        done <"$tmp"
        # a service whose process dumped core: where the kernel's core_pattern
        # is not systemd-coredump's (a container's is its machine's), the only word
        journal _PID=1 | grep ': Main process exited, code=dumped' | while IFS= read -r line; do
                if [ -s "$tmp" ]; then echo "E core-dumps $line"; else echo "F core-dumps $line"; fi
        done
}

denials() {
        journal | grep -E 'apparmor="DENIED"|avc: +denied' >"$tmp" || return 0
        echo "F denials SELinux/AppArmor denials: $(wc -l <"$tmp" | tr -d ' '), the first: $(head -n 1 "$tmp")"
        evidence denials <"$tmp"
}

oopses() {
        journal -k | grep -E '(Oops|BUG: |kernel BUG at|general protection fault|WARNING: CPU: |Kernel panic)' \
                >"$tmp" || return 0
        echo "F oopses kernel: $(head -n 1 "$tmp")"
        journal -k | evidence oopses
}

failed_units() {
        # failed now, and changed state since the test started
        systemctl list-units --state=failed --plain --no-legend --no-pager 2>/dev/null |
                while read -r unit _; do
                        at=$(systemctl show -P StateChangeTimestamp --timestamp=unix -- "$unit" 2>/dev/null)
                        at=${at#@}
                        if [ -z "$at" ] || [ "$at" -lt "${since%.*}" ]; then continue; fi
                        echo "F failed-units unit $unit failed ($(systemctl show -P Result -- "$unit"))"
                        journal -u "$unit" | tail -n 20 | evidence failed-units
                done
}

tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT
for check in "$@"; do
        case $check in
        core-dumps) core_dumps ;;
        denials) denials ;;
        oopses) oopses ;;
        failed-units) failed_units ;;
        *) echo "mhc: unknown check '$check'" >&2; exit 1 ;;
        esac
done
exit 0
