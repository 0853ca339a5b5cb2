#!/bin/sh
# The short soak of `make check` (tests/soak/README.md): six runs of five
# tests on the three topologies (two with faults: a partition, a paused
# unit), each mhtest SIGKILLed at a moment drawn from seed 1, then every
# host checked against its fingerprint from before (faults' rules, units
# and drop-ins included).
# tests/run-test runs it inside the lab's network namespace, or skips it
# without a lab (not under CI=true).
set -eu
builddir=${MH_TEST_BUILDDIR:-.}
srcdir=${MH_TEST_SRCDIR:-.}

exec "$builddir/tests/soak/soak" --config "$srcdir/mhc.yaml" --mhtest "$builddir/mhtest" \
        --tests "$builddir/tests/system/files.so" \
        --tests "$builddir/tests/system/services.so" \
        --tests "$builddir/tests/system/sql.so" \
        --tests "$builddir/tests/system/web.so" \
        -k client_table_is_dropped -k motd_edit_is_undone -k web_stop_is_undone \
        -k partition_cuts_the_page -k paused_server_times_out \
        --runs 6 --seed 1
