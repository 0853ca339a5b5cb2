# shellcheck shell=sh
# The faults a run starts on a host, and their healing.  src/lib/fault.c
# embeds this file and saves it as RUN/faults/fault.sh with the first fault
# of the run; what heals (the end of a test, the dead man's switch, the run's
# unit when its lease goes, the next run's recovery) runs that copy.
#
#   fault.sh start RUN N HEAL_AFTER_SEC KIND ARG...
#       start fault N: RUN/faults/N/ gets `what` (one line for messages) and
#       `heal` (shell that undoes it, may run any number of times, and
#       fails if the fault is still there) before anything changes; then a
#       transient timer that heals it after HEAL_AFTER_SEC; then the fault.
#       KIND ARG...:
#         partition DIRECTION ACTION PEER...   ACTION: drop | reject
#         loss DIRECTION PERCENT PEER...
#         rate DIRECTION BYTES_PER_SEC PEER...
#         pause UNIT
#         restart-loop UNIT INTERVAL_MSEC
#         clock UNIT FAKETIME      (libfaketime's FAKETIME: "+3600", "-1d", "+0 x2")
#         fill DIR MAX_FS_BYTES
#         link DELAY_MS JITTER_MS LOSS% DUPLICATE% REORDER% BYTES_PER_SEC PEER...
#         clock-step SECONDS       (the host's clock; + ahead, - back)
#       DIRECTION: both | out (to the peers) | in (from the peers).
#   fault.sh heal RUN N
#   fault.sh resume RUN UNIT     (the heal of a pause)
#   fault.sh unclock RUN UNIT DROPIN     (the heal of a clock)
#   fault.sh unlink RUN DEV...           (the heal of a link)
#   fault.sh unstep RUN N SECONDS        (the heal of a clock step)
#   fault.sh heal-all RUN
#       heal every fault of the run, newest first, then look for what no
#       record heals (a table mhc_fault_*, a qdisc of handle 4d48: or a
#       drop-in mhc-fault-* of no fault's); remove RUN/faults when nothing is
#       left.  Exit 1, each fault left on stderr, otherwise.
set -u

mode=$1 run=$2
dir=$run/faults
id=${run##*/run-}

die() {
        printf 'mhc: %s\n' "$*" >&2
        exit 1
}

# $1 quoted for sh.
q() {
        printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# --- network faults: a table of nftables of their own --------------------

# The addresses of each peer, as this host resolves them.
addresses() {
        for p in "$@"; do
                a=$(getent ahosts "$p" | awk '$2 == "STREAM" { print $1 }' | sort -u)
                [ -n "$a" ] || die "cannot resolve the peer '$p' on this host"
                printf '%s\n' "$a"
        done
}

# The rules of table $table for KIND DIRECTION PARAM PEER...; the runner's
# SSH traffic (from $SSH_CONNECTION) is accepted first in every chain.
net_rules() {
        kind=$1 direction=$2 param=$3
        shift 3
        v4='' v6=''
        addrs=$(addresses "$@") || exit 1
        addrs=$(printf '%s\n' "$addrs" | sort -u)
        for a in $addrs; do
                case $a in
                *:*) v6="$v6${v6:+, }$a" ;;
                *) v4="$v4${v4:+, }$a" ;;
                esac
        done
        case $kind in
        partition) action=$param ;;
        loss) if [ "$param" -ge 100 ]; then action=drop; else action="numgen random mod 100 < $param drop"; fi ;;
        rate) action="limit rate over $param bytes/second drop" ;;
        esac
        # shellcheck disable=SC2086 # split into its four fields
        set -- ${SSH_CONNECTION:-}
        runner=${1:-} ssh_port=${4:-22} family=ip
        case $runner in *:*) family=ip6 ;; esac
        echo "table inet $table {"
        for chain in input output; do
                case $chain.$direction in input.out | output.in) continue ;; esac
                if [ "$chain" = input ]; then peer=saddr port=dport; else peer=daddr port=sport; fi
                echo "  chain $chain {"
                echo "    type filter hook $chain priority -300; policy accept;"
                [ -z "$runner" ] || echo "    $family $peer $runner tcp $port $ssh_port accept"
                [ -z "$v4" ] || echo "    ip $peer { $v4 } $action"
                [ -z "$v6" ] || echo "    ip6 $peer { $v6 } $action"
                echo "  }"
        done
        echo "}"
}

net_fault() {
        command -v nft >/dev/null 2>&1 || die "no nft on the host (Debian: the nftables package)"
        rules=$(net_rules "$@") || exit 1
        printf '%s\n' "$rules" | nft -f - || die "nft refused the rules of fault $n"
}

# --- a bad link: tc netem ---------------------------------------------------
#
# On each device that a peer's route takes: a prio qdisc of mhc's handle
# 4d48: at the root, whose band 4 is netem.  Filters send what goes to the
# peers to band 4, the runner's SSH traffic first to band 1; the rest takes
# the usual bands.  One link fault per device at a time.

QDISC=4d48 NETEM=4d49

# The devices the routes to addresses $@ take, one a line.
route_devs() {
        for a in "$@"; do
                ip route get "$a" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1
        done | sort -u
}

ours() { # device: true if the root qdisc is a link fault's
        tc qdisc show dev "$1" 2>/dev/null | grep -q "^qdisc prio $QDISC: root"
}

# tc qdisc add dev DEV ARG... of qdisc KIND, or why not.
qdisc() {
        kind=$1 dev=$2
        shift 2
        out=$(tc qdisc add dev "$dev" "$@" 2>&1) && return 0
        case $out in
        *"kind is unknown"*)
                die "the host's kernel has no $kind qdisc (sch_$kind), which a link fault needs" ;;
        *) die "tc cannot add a $kind qdisc on $dev ($*): $out" ;;
        esac
}

link() {
        delay=$1 jitter=$2 loss=$3 dup=$4 reorder=$5 rate=$6
        shift 6
        addrs=$(addresses "$@" | sort -u) || exit 1
        # shellcheck disable=SC2086 # one address a word
        devs=$(route_devs $addrs)
        netem=
        [ "$delay" -eq 0 ] || netem="$netem delay ${delay}ms"
        [ "$jitter" -eq 0 ] || netem="$netem ${jitter}ms"
        [ "$loss" -eq 0 ] || netem="$netem loss $loss%"
        [ "$dup" -eq 0 ] || netem="$netem duplicate $dup%"
        [ "$reorder" -eq 0 ] || netem="$netem reorder $reorder%"
        [ "$rate" -eq 0 ] || netem="$netem rate ${rate}bps"
        # shellcheck disable=SC2086 # split into its four fields
        set -- ${SSH_CONNECTION:-}
        runner=${1:-} ssh_port=${4:-22}
        for dev in $devs; do
                # the default priomap of prio, on bands 1..3
                qdisc prio "$dev" root handle $QDISC: prio bands 4 \
                        priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1
                # shellcheck disable=SC2086 # netem's words
                qdisc netem "$dev" parent $QDISC:4 handle $NETEM: netem $netem
                case $runner in
                *:*) tc filter add dev "$dev" parent $QDISC: protocol ipv6 prio 1 u32 \
                        match ip6 dst "$runner"/128 match ip6 sport "$ssh_port" 0xffff flowid $QDISC:1 ;;
                ?*) tc filter add dev "$dev" parent $QDISC: protocol ip prio 1 u32 \
                        match ip dst "$runner"/32 match ip sport "$ssh_port" 0xffff flowid $QDISC:1 ;;
                esac || die "tc cannot keep the runner's SSH traffic out of the fault on $dev"
                for a in $addrs; do
                        case $a in
                        *:*) tc filter add dev "$dev" parent $QDISC: protocol ipv6 prio 2 u32 \
                                match ip6 dst "$a"/128 flowid $QDISC:4 ;;
                        *) tc filter add dev "$dev" parent $QDISC: protocol ip prio 2 u32 \
                                match ip dst "$a"/32 flowid $QDISC:4 ;;
                        esac || die "tc cannot send the traffic to $a on $dev to the fault"
                done
        done
}

# The heal of a link: the qdisc gone from each device.
unlink() {
        for dev in "$@"; do
                ! ours "$dev" || tc qdisc del dev "$dev" root
        done
        for dev in "$@"; do
                ! ours "$dev" || return 1
        done
}

# --- the host's clock ------------------------------------------------------

# Step the clock by $1 seconds (to the microsecond).
step() {
        now=$(date +%s.%N) || return 1
        date -s "@$(awk -v t="$now" -v d="$1" 'BEGIN { printf "%.6f", t + d }')" >/dev/null
}

clock_step() {
        if virt=$(systemd-detect-virt --container 2>/dev/null); then
                die "the host is a container ($virt) on its machine's clock: a clock step needs a host with a kernel of its own"
        fi
        : >"$d/stepped" || die "cannot write $d/stepped"
        step "$1" || {
                rm -f -- "$d/stepped"
                die "cannot step the clock by $1 s"
        }
}

# The heal of a clock step: stepped back once, however often it runs.
unstep() {
        [ -e "$dir/$1/stepped" ] || return 0
        step "$((0 - $2))" || return 1
        rm -f -- "$dir/$1/stepped"
}

# --- a paused unit -------------------------------------------------------

# The pids of unit $1 that are stopped (SIGSTOP), one a line.
stopped_pids() {
        cg=$(systemctl show -p ControlGroup --value -- "$1" 2>/dev/null) || return 0
        [ -n "$cg" ] || return 0
        for procs in /sys/fs/cgroup$cg/cgroup.procs /sys/fs/cgroup/unified$cg/cgroup.procs \
                /sys/fs/cgroup/systemd$cg/cgroup.procs; do
                [ -r "$procs" ] || continue
                while read -r pid; do
                        # the state is the field after the name, which ends with ')'
                        s=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
                        [ "${s%% *}" != T ] || echo "$pid"
                done <"$procs"
                return 0
        done
}

# Paused: frozen (cgroup v2), or its processes stopped with SIGSTOP.
paused() {
        [ "$(systemctl show -p FreezerState --value -- "$1" 2>/dev/null)" = frozen ] ||
                [ -n "$(stopped_pids "$1")" ]
}

pause() {
        systemctl is-active -q -- "$1" || die "unit $1 is not active"
        if ! systemctl freeze -- "$1" 2>/dev/null; then
                # no freezer for the unit (a cgroup v1 or hybrid hierarchy)
                systemctl kill --signal=SIGSTOP --kill-whom=all -- "$1" ||
                        die "cannot pause unit $1"
        fi
        paused "$1" || die "unit $1 did not pause"
}

resume() {
        systemctl thaw -- "$1" >/dev/null 2>&1 || :
        systemctl kill --signal=SIGCONT --kill-whom=all -- "$1" >/dev/null 2>&1 || :
        ! paused "$1"
}

# --- a unit restarted again and again -------------------------------------

restart_loop() {
        systemctl cat -- "$1" >/dev/null 2>&1 || die "no unit $1"
        systemd-run --quiet --collect --unit="$loop" --on-active="${2}ms" \
                --on-unit-active="${2}ms" --timer-property=AccuracySec=10ms \
                systemctl restart -- "$1" >/dev/null || die "cannot start the loop that restarts $1"
}

# --- a unit's clock (libfaketime) ------------------------------------------

clock() {
        lib=
        for f in /usr/lib/*/faketime/libfaketime.so.1; do [ -e "$f" ] && lib=$f; done
        [ -n "$lib" ] || die "no libfaketime on the host (Debian: the faketime package)"
        systemctl cat -- "$1" >/dev/null 2>&1 || die "no unit $1"
        mkdir -p -- "${dropin%/*}" || die "cannot make ${dropin%/*}"
        printf '[Service]\nEnvironment="LD_PRELOAD=%s" "FAKETIME=%s" "FAKETIME_DONT_RESET=1"\n' \
                "$lib" "$2" >"$dropin" || die "cannot write $dropin"
        systemctl daemon-reload || die "systemctl daemon-reload failed"
        systemctl try-restart -- "$1" || die "cannot restart $1 with its clock"
}

# The heal of a clock: the drop-in gone, the unit on the real clock again.
unclock() {
        rm -f -- "$2"
        systemctl daemon-reload
        systemctl try-restart -- "$1"
        [ ! -e "$2" ] && ! systemctl show -p Environment --value -- "$1" | grep -q FAKETIME=
}

# --- a full filesystem ---------------------------------------------------

fill() {
        path=$1 max=$2
        if [ ! -d "$path" ] || [ -L "$path" ]; then die "$path is not a directory"; fi
        size=$(stat -f -c '%b %S' -- "$path") || die "cannot read the filesystem of $path"
        size=$(( ${size% *} * ${size#* } ))
        [ "$size" -le "$max" ] ||
                die "the filesystem of $path is $size bytes, over the limit of $max for a fill"
        fallocate -l "$size" -- "$file" 2>/dev/null || :
        # to the last block (fallocate stops short of it, or is not supported)
        dd if=/dev/zero of="$file" bs=65536 oflag=append conv=notrunc 2>/dev/null || :
        dd if=/dev/zero of="$file" bs=512 oflag=append conv=notrunc 2>/dev/null || :
        avail=$(stat -f -c '%a' -- "$path")
        [ "$avail" -eq 0 ] || die "$path still has $avail free blocks after the fill"
}

# --- healing -------------------------------------------------------------

heal_one() {
        d=$dir/$1
        [ -d "$d" ] || return 0
        if sh "$d/heal" >/dev/null 2>&1; then
                [ ! -r "$d/timer" ] || systemctl stop -- "$(cat "$d/timer")" >/dev/null 2>&1 || :
                rm -rf -- "$d"
                return 0
        fi
        printf 'mhc: fault %s is still there after its heal: %s\n' "$1" "$(cat "$d/what" 2>/dev/null)" >&2
        return 1
}

heal_all() {
        rc=0
        for f in $(for d in "$dir"/*/; do
                e=${d%/} e=${e##*/}
                case $e in '' | *[!0-9]*) ;; *) echo "$e" ;; esac
        done | sort -rn); do
                heal_one "$f" || rc=1
        done
        for t in /run/systemd/system/*.d/mhc-fault-*.conf; do
                [ -e "$t" ] || continue
                owner=${t##*/mhc-fault-} owner=${owner%.conf}
                [ ! -d "${run%/*}/run-${owner%-*}/faults/${owner##*-}" ] || continue
                printf 'mhc: drop-in %s is left, with no fault to heal it\n' "$t" >&2
                rc=1
        done
        if [ "$rc" -eq 0 ] && command -v tc >/dev/null 2>&1; then
                # every fault is healed: a link fault's qdisc left is no fault's
                for t in /sys/class/net/*; do
                        ! ours "${t##*/}" || {
                                printf 'mhc: a qdisc of a link fault (handle %s:) is left on %s, with no fault to heal it\n' \
                                        "$QDISC" "${t##*/}" >&2
                                rc=1
                        }
                done
        fi
        if command -v nft >/dev/null 2>&1; then
                # mhc_fault_ID_N: fault N of run ID, healed by run-ID/faults/N
                for t in $(nft list tables 2>/dev/null | awk '$3 ~ /^mhc_fault_/ { print $2 "/" $3 }'); do
                        name=${t#*/} owner=${t#*/mhc_fault_}
                        [ ! -d "${run%/*}/run-${owner%_*}/faults/${owner##*_}" ] || continue
                        printf 'mhc: nftables table %s %s is left, with no fault to heal it\n' \
                                "${t%/*}" "$name" >&2
                        rc=1
                done
        fi
        # nothing is left: the next tests' ends pay nothing
        [ "$rc" -ne 0 ] || rm -rf -- "$dir"
        return "$rc"
}

# --- start ---------------------------------------------------------------

start() {
        n=$1 after=$2 kind=$3
        shift 3
        d=$dir/$n
        table=mhc_fault_${id}_$n
        case $n in '' | *[!0-9]*) die "bad fault number '$n'" ;; esac
        [ ! -e "$d" ] || die "fault $n exists already"
        # what can be refused before anything is recorded
        case $kind in
        link)
                [ "$#" -gt 6 ] || die "link: no peers"
                command -v tc >/dev/null 2>&1 || die "no tc on the host (Debian: the iproute2 package)"
                # shellcheck disable=SC2046 # one address a word
                devs=$(shift 6; route_devs $(addresses "$@")) || exit 1
                [ -n "$devs" ] || die "no route to the peers of the link fault"
                for dev in $devs; do
                        ! ours "$dev" || die "a link fault is on $dev already (one at a time)"
                done
                ;;
        clock-step)
                case ${1#-} in '' | *[!0-9]*) die "bad clock step '$1'" ;; esac
                ;;
        esac
        mkdir -p -- "$d" || die "cannot make $d"
        case $kind in
        partition | loss | rate)
                printf '%s (%s, %s) with %s\n' "$kind" "$1" "$2" "$(shift 2; echo "$*")" >"$d/what"
                printf 'nft delete table inet %s 2>/dev/null\n! nft list table inet %s >/dev/null 2>&1\n' \
                        "$table" "$table" >"$d/heal"
                ;;
        pause)
                printf 'pause of unit %s\n' "$1" >"$d/what"
                printf 'sh %s resume %s %s\n' "$(q "$dir/fault.sh")" "$(q "$run")" "$(q "$1")" >"$d/heal"
                ;;
        restart-loop)
                loop=mhc-fault-$id-$n-loop
                printf 'restart loop of unit %s\n' "$1" >"$d/what"
                printf 'systemctl stop -- %s.timer %s.service 2>/dev/null\n! systemctl is-active -q -- %s.timer\n' \
                        "$loop" "$loop" "$loop" >"$d/heal"
                ;;
        clock)
                dropin=/run/systemd/system/$1.d/mhc-fault-$id-$n.conf
                printf 'clock of unit %s (%s)\n' "$1" "$2" >"$d/what"
                printf 'sh %s unclock %s %s %s\n' "$(q "$dir/fault.sh")" "$(q "$run")" "$(q "$1")" \
                        "$(q "$dropin")" >"$d/heal"
                ;;
        link)
                printf 'link fault to %s\n' "$(shift 6; echo "$*")" >"$d/what"
                printf 'sh %s unlink %s %s\n' "$(q "$dir/fault.sh")" "$(q "$run")" \
                        "$(printf '%s\n' "$devs" | tr '\n' ' ')" >"$d/heal"
                ;;
        clock-step)
                printf 'clock step of %s s\n' "$1" >"$d/what"
                printf 'sh %s unstep %s %s %s\n' "$(q "$dir/fault.sh")" "$(q "$run")" "$n" "$1" >"$d/heal"
                ;;
        fill)
                file=$1/.mhc-fill-$id-$n
                printf 'fill of the filesystem of %s\n' "$1" >"$d/what"
                printf 'rm -f -- %s\n! [ -e %s ]\n' "$(q "$file")" "$(q "$file")" >"$d/heal"
                ;;
        *) die "unknown fault '$kind'" ;;
        esac
        # the dead man's switch: heals it if nothing else did
        unit=mhc-heal-$id-$n
        systemd-run --quiet --collect --unit="$unit" --on-active="${after}s" \
                --timer-property=AccuracySec=1s /bin/sh "$dir/fault.sh" heal "$run" "$n" \
                >/dev/null 2>&1 || {
                rm -rf -- "$d"
                die "cannot start the timer that would heal fault $n (systemd-run)"
        }
        echo "$unit.timer" >"$d/timer"
        case $kind in
        partition | loss | rate) (net_fault "$kind" "$@") ;;
        pause) (pause "$1") ;;
        restart-loop) (restart_loop "$@") ;;
        clock) (clock "$@") ;;
        fill) (fill "$@") ;;
        link) (link "$@") ;;
        clock-step) (clock_step "$@") ;;
        esac || {
                heal_one "$n" || :
                exit 1
        }
}

case $mode in
start)
        shift 2
        start "$@"
        ;;
heal) heal_one "$3" ;;
heal-all) heal_all ;;
resume) resume "$3" ;;
unclock) unclock "$3" "$4" ;;
unlink)
        shift 2
        unlink "$@"
        ;;
unstep) unstep "$3" "$4" ;;
*) die "unknown mode '$mode'" ;;
esac
