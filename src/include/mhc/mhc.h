/* SPDX-License-Identifier: MIT */
#ifndef MHC_MHC_H
#define MHC_MHC_H

/* The whole public API of libmhc; see libmhc(3). */

#include <mhc/buf.h>
#include <mhc/clock.h>
#include <mhc/common.h>
#include <mhc/config.h>
#include <mhc/error.h>
#include <mhc/fault.h>
#include <mhc/outcome.h>
#include <mhc/host.h>
#include <mhc/log.h>
#include <mhc/parallel.h>
#include <mhc/postgresql.h>
#include <mhc/probe.h>
#include <mhc/shell.h>
#include <mhc/ssh.h>
#include <mhc/strv.h>
#include <mhc/systemd.h>
#include <mhc/test.h>
#include <mhc/topology.h>
#include <mhc/version.h>

#endif
