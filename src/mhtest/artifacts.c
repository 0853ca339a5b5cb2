/* SPDX-License-Identifier: MIT */
/* Placeholder: filled in by issue 4. */
typedef int placeholder_artifacts;
