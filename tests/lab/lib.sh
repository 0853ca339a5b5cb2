# shellcheck shell=bash
# Common code of the mhc lab scripts (tests/lab/up, down, exec, status).
# Sourced, not run. Everything here acts only on the lab's own network
# namespaces, mounts, processes and files; nothing touches the machine's own
# network namespace.

LAB_STATE=/var/lib/mhc-lab            # kept by `down` (keys, passwords), removed by `down --purge`
LAB_HOSTS_DIR=$LAB_STATE/hosts        # per-host overlay dirs, removed by `down`
LAB_CACHE=/var/cache/mhc-lab          # cached base root fs, removed by `down --purge`
LAB_RUN=/run/mhc-lab                  # pid files, host list, subnet; removed by `down`
LAB_NS=mhclab                         # network namespace of the bridge and the runner
LAB_BRIDGE=mhcbr0
LAB_NETNS_ETC=/etc/netns/$LAB_NS
LAB_KEY=$LAB_STATE/ssh/id_ed25519
LAB_KNOWN_HOSTS=$LAB_STATE/ssh/known_hosts
LAB_SSH_CONFIG=$LAB_STATE/ssh/config
LAB_PASSWORD_FILE=$LAB_STATE/password
LAB_PG_PASSWORD_FILE=$LAB_STATE/pg-password
LAB_LOCK=$LAB_STATE/.lock

die() { printf 'lab: %s\n' "$*" >&2; exit 1; }
warn() { printf 'lab: %s\n' "$*" >&2; }
info() { printf 'lab: %s\n' "$*"; }

require_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (try: sudo $0 $*)"
}

# Take the lab lock on fd 9 (serialises up and down). Children that outlive
# the script (nspawn) must be started with 9>&- so they do not keep it.
lab_lock() {
    mkdir -p "$LAB_STATE"
    chmod 755 "$LAB_STATE"
    exec 9>"$LAB_LOCK"
    flock -w 900 9 || die "another tests/lab/up or down holds $LAB_LOCK"
}

# The subnet prefix: three octets, from MHC_LAB_SUBNET (default 10.213.0).
lab_subnet() {
    local s=${MHC_LAB_SUBNET:-10.213.0} o
    [[ $s =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] ||
        die "MHC_LAB_SUBNET='$s' is not three octets like 10.213.0"
    for o in "${BASH_REMATCH[@]:1}"; do
        [ "$((10#$o))" -le 255 ] || die "MHC_LAB_SUBNET='$s': octet $o is over 255"
    done
    o=$((10#${BASH_REMATCH[1]}))
    { [ "$o" -ge 1 ] && [ "$o" -le 223 ] && [ "$o" -ne 127 ]; } ||
        die "MHC_LAB_SUBNET='$s': first octet must be 1..223 and not 127"
    printf '%d.%d.%d\n' "$((10#${BASH_REMATCH[1]}))" "$((10#${BASH_REMATCH[2]}))" "$((10#${BASH_REMATCH[3]}))"
}

# The host list of the running lab: lines "name ip".
lab_host_lines() {
    [ -r "$LAB_RUN/hosts" ] && cat "$LAB_RUN/hosts"
}

# Prints the pid of the nspawn process of host $1 if it is alive.
host_pid() {
    local name=$1 pid cmd
    [ -r "$LAB_RUN/$name.pid" ] || return 1
    pid=$(cat "$LAB_RUN/$name.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    if is_vm "$name"; then
        [[ $cmd == qemu-system-*" -name mhc-lab-$name "* ]] || return 1
    else
        [[ $cmd == *systemd-nspawn*" --machine=$name "* || $cmd == *systemd-nspawn*" --machine=$name" ]] || return 1
    fi
    printf '%s\n' "$pid"
}

# True for the lab's virtual machine (QEMU, a kernel of its own); the other
# hosts are systemd-nspawn containers.
is_vm() {
    [ "$1" = vm ]
}

# Pids of every systemd-nspawn or QEMU process running a lab host (found by
# its --network-namespace-path or -name, so this works without pid files too).
lab_nspawn_pids() {
    local p cmd
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        [[ $cmd == *systemd-nspawn*"--network-namespace-path=/run/netns/mhc-"* ||
            $cmd == qemu-system-*" -name mhc-lab-"* ]] || continue
        printf '%s\n' "${p#/proc/}"
    done
}

# Pids of the processes inside netns mhc-$1 (the container of host $1).
host_ns_pids() {
    [ -e "/run/netns/mhc-$1" ] || return 0
    ip netns pids "mhc-$1" 2>/dev/null || true
}

# True if one of the pids is alive (zombies count as dead: empty cmdline).
pids_alive() {
    local p
    for p in "$@"; do
        [ -n "$(tr -d '\0' 2>/dev/null <"/proc/$p/cmdline")" ] && return 0
    done
    return 1
}

# Unmounts everything mounted at or below directory $1 (deepest first).
umount_under() {
    local dir m
    dir=$(realpath -m "$1")
    # /proc/self/mountinfo field 5 is the mount point (octal escapes for spaces;
    # lab paths have none).
    while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" ||
            warn "could not unmount $m"
    done < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
}

# Removes directory $1 after unmounting anything below it; never crosses
# into another file system.
remove_tree() {
    [ -e "$1" ] || return 0
    umount_under "$1"
    rm -rf --one-file-system -- "$1"
}

# The cgroup directories given to host $1's nspawn, one per hierarchy that
# nspawn and the container's systemd use (cgroup2, and name=systemd on a
# hybrid machine), below the cgroups of the calling process. Each container
# needs cgroups of its own: nspawn --keep-unit without a systemd on the
# machine would otherwise put every container in the same cgroups
# (/payload/system.slice/...), and their systemds would share (and race
# on, and kill each other's processes in) the same unit cgroups.
lab_cgroup_dirs() { # name
    local id ctrl path mnt
    while IFS=: read -r id ctrl path; do
        mnt=
        if [ "$id" = 0 ] && [ -z "$ctrl" ]; then
            mnt=$(findmnt -n -t cgroup2 -o TARGET | awk 'NR == 1')
        elif [ "$ctrl" = name=systemd ]; then
            mnt=$(findmnt -n -t cgroup -o TARGET,OPTIONS | awk '$2 ~ /(^|,)name=systemd(,|$)/ { print $1; exit }')
        fi
        [ -z "$mnt" ] || printf '%s%s/mhc-lab/%s\n' "$mnt" "${path%/}" "$1"
    done </proc/self/cgroup
}

# Removes the (empty) cgroups of host $1 recorded by tests/lab/up.
remove_host_cgroups() { # name
    local f=$LAB_RUN/$1.cgroup c
    [ -r "$f" ] || return 0
    while read -r c; do
        [ -d "$c" ] || continue
        find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || warn "could not remove cgroup $c"
        rmdir "${c%/*}" 2>/dev/null || true # the mhc-lab parent, once empty
    done <"$f"
    rm -f "$f"
}

# Stops the given lab hosts: SIGTERM to nspawn (orderly poweroff of the
# container; QEMU just ends, its disk is thrown away), wait up to $LAB_STOP_TIMEOUT s (default 20), then SIGKILL to
# nspawn and to every process left in the host's netns. Then unmounts and
# deletes the host's overlay and deletes its netns (which removes its veth).
stop_hosts() {
    local name pid deadline pids=() left
    [ "$#" -gt 0 ] || return 0
    for name in "$@"; do
        if pid=$(host_pid "$name"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    deadline=$((SECONDS + ${LAB_STOP_TIMEOUT:-20}))
    while pids_alive "${pids[@]}" && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.2
    done
    for pid in "${pids[@]}"; do
        pids_alive "$pid" && { warn "pid $pid did not stop in time: killing it"; kill -KILL "$pid" 2>/dev/null || true; }
    done
    # Whatever is left in a host's netns belongs to that host's container
    # (e.g. after its nspawn was killed): kill it.
    for name in "$@"; do
        left=$(host_ns_pids "$name")
        [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
    done
    deadline=$((SECONDS + 10))
    for name in "$@"; do
        while [ -n "$(host_ns_pids "$name")" ] && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.2
        done
        [ -z "$(host_ns_pids "$name")" ] || warn "processes still in netns mhc-$name: $(host_ns_pids "$name" | tr '\n' ' ')"
        remove_tree "$LAB_HOSTS_DIR/$name"
        if [ -e "/run/netns/mhc-$name" ]; then
            ip netns delete "mhc-$name" || warn "could not delete netns mhc-$name"
        fi
        if [ -e "/run/netns/$LAB_NS" ]; then
            ip -n "$LAB_NS" link delete "ve-$name" 2>/dev/null || true
        fi
        remove_host_cgroups "$name"
        rm -f "$LAB_RUN/$name.pid"
        rm -rf "/run/systemd/nspawn/propagate/$name" 2>/dev/null || true
    done
}

# ssh options used by the lab scripts to reach hosts (run inside netns mhclab).
lab_ssh_opts=(
    -F /dev/null
    -i "$LAB_KEY"
    -o IdentitiesOnly=yes
    -o UserKnownHostsFile="$LAB_KNOWN_HOSTS"
    -o GlobalKnownHostsFile=/dev/null
    -o StrictHostKeyChecking=yes
    -o BatchMode=yes
    -o ConnectTimeout=3
    -o LogLevel=ERROR
)

lab_ssh() {
    ip netns exec "$LAB_NS" ssh "${lab_ssh_opts[@]}" "$@"
}
