#!/bin/sh
# The postgresql host type's WAL reader (hosts/postgresql-wal.sh), no lab
# needed: run as hosts/postgresql-wal.c runs it on a host (the script on
# stdin), with a stand-in for pg_waldump that prints records taken from
# PostgreSQL 15.  Each kind of record marks the database it changes, the
# shared catalogs, or nothing (a checkpoint); a record it cannot place
# makes the answer "unknown"; a failing pg_waldump gives no "ok".
set -eu

srcdir=${MH_TEST_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
script=$srcdir/hosts/postgresql-wal.sh
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mhc-test-postgresql-wal.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
failures=0
checks=0

# A pg_waldump that checks its arguments, prints $scratch/records and exits with $scratch/status.
cat >"$scratch/waldump" <<'EOS'
#!/bin/sh
[ "$1" = -p ] && [ "$3" = -s ] && [ "$4" = 0/1960B50 ] && [ "$5" = -e ] && [ "$6" = 0/19777B8 ] ||
        { echo "pg_waldump: error: bad arguments: $*" >&2; exit 1; }
cat "$(dirname "$0")/records"
cat "$(dirname "$0")/errors" >&2
exit "$(cat "$(dirname "$0")/status")"
EOS
chmod +x "$scratch/waldump"

# The reader's sorted answer for the records given on stdin, pg_waldump exiting with $1.
touched() {
        cat >"$scratch/records"
        echo "$1" >"$scratch/status"
        printf '%s' "${2:-}" >"$scratch/errors"
        sh -s "$scratch/waldump" "$scratch/pg_wal" 0/1960B50 0/19777B8 <"$script" 2>"$scratch/err" |
                sort >"$scratch/out"
}

expect() {
        checks=$((checks + 1))
        got=$(cat "$scratch/out")
        if [ "$got" != "$2" ]; then
                printf 'FAIL: %s: got [%s], expected [%s]\n' "$1" "$got" "$2" >&2
                failures=$((failures + 1))
        fi
}

nl='
'

# rows, tables and a sequence of one database; its commit; a lock
touched 0 <<'EOR'
rmgr: Heap        len (rec/tot):     54/   734, tx:        739, lsn: 0/01960B50, prev 0/01960B18, desc: INSERT off 8 flags 0x01, blkref #0: rel 1663/16385/2615 blk 0 FPW
rmgr: Btree       len (rec/tot):     53/   233, tx:        739, lsn: 0/01960E30, prev 0/01960B50, desc: INSERT_LEAF off 3, blkref #0: rel 1663/16385/2684 blk 1 FPW
rmgr: Sequence    len (rec/tot):     99/    99, tx:          0, lsn: 0/01960F20, prev 0/01960E30, desc: LOG rel 1663/16385/16390, blkref #0: rel 1663/16385/16390 blk 0
rmgr: Standby     len (rec/tot):     42/    42, tx:        739, lsn: 0/019610F0, prev 0/019610B0, desc: LOCK xid 739 db 16385 rel 16393 
rmgr: Transaction len (rec/tot):    485/   485, tx:        739, lsn: 0/01977090, prev 0/01977048, desc: COMMIT 2026-12-02 01:35:11.798935 UTC; rels: base/16385/16400; dropped stats: 2/16385/16393; inval msgs: catcache 36 relcache 16393 snapshot 1214
EOR
expect "a database's rows" "db 16385${nl}ok"

# a checkpoint and what runs beside it name no database
touched 0 <<'EOR'
rmgr: Standby     len (rec/tot):     50/    50, tx:          0, lsn: 0/01977790, prev 0/019775B8, desc: RUNNING_XACTS nextXid 742 latestCompletedXid 741 oldestRunningXid 742
rmgr: XLOG        len (rec/tot):    114/   114, tx:          0, lsn: 0/019777C8, prev 0/01977790, desc: CHECKPOINT_ONLINE redo 0/1977790; tli 1; prev tli 1; fpw true; xid 0:742; oid 24576; multi 1; offset 0; oldest xid 716 in DB 1; oldest multi 1 in DB 1; oldest/newest commit timestamp xid: 0/0; oldest running xid 742; online
rmgr: Transaction len (rec/tot):     34/    34, tx:        741, lsn: 0/01977840, prev 0/019777C8, desc: COMMIT 2026-12-02 01:35:11.887704 UTC
rmgr: XLOG        len (rec/tot):     30/    30, tx:          0, lsn: 0/01977868, prev 0/01977840, desc: NEXTOID 32768
EOR
expect "a checkpoint" "ok"

# shared catalogs (a role, a database's row), relation files, maps, other tablespaces
touched 0 <<'EOR'
rmgr: Heap        len (rec/tot):     54/   198, tx:        739, lsn: 0/01975448, prev 0/01975408, desc: INSERT off 2 flags 0x00, blkref #0: rel 1664/0/1214 blk 0 FPW
rmgr: Storage     len (rec/tot):     42/    42, tx:        745, lsn: 0/01978000, prev 0/01977868, desc: CREATE base/16400/16410
rmgr: RelMap      len (rec/tot):    553/   553, tx:        745, lsn: 0/01978030, prev 0/01978000, desc: UPDATE database 16401 tablespace 1663 size 524
rmgr: Storage     len (rec/tot):     42/    42, tx:        745, lsn: 0/01978260, prev 0/01978030, desc: CREATE pg_tblspc/16500/PG_15_202209061/16402/16411
EOR
expect "the shared catalogs and files" "db 16400${nl}db 16401${nl}db 16402${nl}ok${nl}shared"

# CREATE DATABASE ... TEMPLATE marks the new database, not its source; DROP DATABASE the dropped one
touched 0 <<'EOR'
rmgr: Database    len (rec/tot):     42/    42, tx:        750, lsn: 0/01979000, prev 0/01978260, desc: CREATE_FILE_COPY copy dir 1663/1 to 1663/16420
rmgr: Database    len (rec/tot):     42/    42, tx:        751, lsn: 0/01979030, prev 0/01979000, desc: CREATE_WAL_LOG create dir 1663/16421
rmgr: Database    len (rec/tot):     42/    42, tx:        752, lsn: 0/01979060, prev 0/01979030, desc: DROP dir 1663/16422
EOR
expect "databases made and dropped" "db 16420${nl}db 16421${nl}db 16422${nl}ok"

# a record of a kind that names no database and is not known to touch none
touched 0 <<'EOR'
rmgr: Heap2       len (rec/tot):     59/    59, tx:          0, lsn: 0/0197A000, prev 0/01979060, desc: SOMETHING_NEW without a relation
EOR
expect "an unknown record" "ok${nl}unknown"

# pg_waldump fails (the WAL was recycled): no "ok", its last word on stderr
touched 1 "pg_waldump: error: could not find file \"000000010000000000000001\": No such file or directory
" </dev/null
expect "a failing pg_waldump" ""
checks=$((checks + 1))
if ! grep -q 'could not find file' "$scratch/err"; then
        echo "FAIL: the failure is not on stderr: $(cat "$scratch/err")" >&2
        failures=$((failures + 1))
fi

echo "test-postgresql-wal: $checks checks, $failures failures"
[ "$failures" -eq 0 ]
