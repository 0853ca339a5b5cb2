/* SPDX-License-Identifier: MIT */
/* stub: being written */
#include "util.h"
