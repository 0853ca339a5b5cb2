/* SPDX-License-Identifier: MIT */
#ifndef MHTEST_H
#define MHTEST_H
#endif
