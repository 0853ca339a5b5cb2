#!/bin/sh
# mhc postgresql host: which databases the WAL between two positions touches
# (see hosts/postgresql-wal.c)
# usage: sh -s WALDUMP WALDIR START END <postgresql-wal.sh
#
# Runs pg_waldump (WALDUMP) on the WAL in WALDIR from START to END and
# prints one line for each database whose files a record changes ("db
# OID"), "shared" when the shared catalogs changed, "unknown" when a record
# names no database and is not of a kind known to touch none, then "ok".
# When the WAL cannot be read (a segment already recycled, a record not yet
# flushed) it prints pg_waldump's last word on stderr and exits 1.  Needs
# POSIX sh and awk, and read access to WALDIR.
set -u
export LC_ALL=C
waldump=$1 waldir=$2 start=$3 end=$4
err=$(mktemp) || exit 70
trap 'rm -f "$err"' EXIT

{
        "$waldump" -p "$waldir" -s "$start" -e "$end" 2>"$err"
        echo "status $?"
} | awk '
function mark(d) {
        if (d == 0)
                shared = 1
        else
                db[d] = 1
        found = 1
}
# every "PREFIX N/D" or "PREFIX T/D/R" of s marks D; prefix ends in a space or slash
function marks(s, re, skip, i, a) {
        while (match(s, re)) {
                split(substr(s, RSTART + skip, RLENGTH - skip), a, "/")
                mark(a[i] + 0)
                s = substr(s, RSTART + RLENGTH)
        }
}
/^status / { status = $2; next }
/^rmgr: / {
        rmgr = $2
        line = $0
        found = 0
        sub(/^.*, desc: /, "", line)
        marks(line, "rel [0-9]+/[0-9]+/[0-9]+", 4, 2)          # block references, sequences
        marks(line, "base/[0-9]+/", 5, 1)                       # relation files
        marks(line, "pg_tblspc/[0-9]+/[^/ ]+/[0-9]+/", 10, 3)   # files in other tablespaces
        marks(line, " db [0-9]+", 4, 1)                         # locks
        marks(line, "database [0-9]+", 9, 1)                    # relation maps
        if (line ~ /global\//)
                mark(0)
        if (rmgr == "Database") {
                # created, copied (not from its source) or dropped databases
                sub(/copy dir [0-9]+\/[0-9]+ to /, "", line)
                marks(line, " [0-9]+/[0-9]+", 1, 2)
        }
        if (rmgr == "Tablespace" || rmgr == "ReplicationOrigin")
                mark(0)
        if (!found && rmgr !~ /^(XLOG|Transaction|CLOG|MultiXact|Standby|CommitTs|LogicalMessage)$/)
                unknown = 1
}
END {
        for (d in db)
                print "db " d
        if (shared)
                print "shared"
        if (unknown)
                print "unknown"
        if (status == "0")
                print "ok"
}'

if [ -s "$err" ]; then
        tail -n 1 "$err" >&2
fi
