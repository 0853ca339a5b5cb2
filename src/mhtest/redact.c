/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "mhtest.h"
#include "util.h"

/*
 * Secrets out of what mhtest writes: each sink (the console, the reports,
 * the artifacts) passes its text through redact_secrets() with the secrets
 * of the run's hosts (mh_host_secret()) just before writing it, so that no
 * caller has to remember.
 */

#define REDACTED   "********"
#define SECRET_MIN 4 /* bytes: shorter "secrets" would hide too much */

/* How far the secrets reach that start at s + i, given cover, how far earlier ones reach. */
static size_t cover_at(const char *s, size_t i, const char *const *secrets, size_t cover) {
        for (const char *const *p = secrets; *p; p++) {
                size_t n;

                if (s[i] == (*p)[0] && (n = strlen(*p)) >= SECRET_MIN &&
                    strncmp(s + i, *p, n) == 0 && i + n > cover)
                        cover = i + n;
        }
        return cover;
}

/* Write s into out with each run of bytes that secrets cover as REDACTED, or when out is
 * NULL only count the bytes that takes; returns the count. */
static size_t redact_into(const char *s, const char *const *secrets, char *out) {
        size_t n = 0, cover = 0;

        for (size_t i = 0; s[i]; i++) {
                bool in_run = i < cover;

                cover = cover_at(s, i, secrets, cover);
                if (i >= cover) {
                        if (out)
                                out[n] = s[i];
                        n++;
                } else if (!in_run) {
                        if (out)
                                memcpy(out + n, REDACTED, strlen(REDACTED));
                        n += strlen(REDACTED);
                }
        }
        if (out)
                out[n] = '\0';
        return n;
}

char *redact_secrets(char *s, const char *const *secrets) {
        char *out;

        if (!redact_found(s, secrets))
                return s;

        out = malloc(redact_into(s, secrets, NULL) + 1);
        if (!out) {
                /* No memory for the copy: hide the secrets byte for byte, in place.  Each
                 * position is read before it is hidden, so overlaps are still found. */
                size_t cover = 0;

                for (size_t i = 0; s[i]; i++) {
                        cover = cover_at(s, i, secrets, cover);
                        if (i < cover)
                                s[i] = '*';
                }
                return s;
        }
        redact_into(s, secrets, out);
        free(s);
        return out;
}

bool redact_found(const char *s, const char *const *secrets) {
        for (const char *const *p = secrets; s && p && *p; p++)
                if (strlen(*p) >= SECRET_MIN && strstr(s, *p))
                        return true;
        return false;
}

char **redact_copy_list(const char *const *secrets) {
        size_t n = 0;
        char **copy;

        while (secrets && secrets[n])
                n++;
        copy = calloc(n + 1, sizeof(*copy));
        if (!copy)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (!(copy[i] = strdup(secrets[i]))) {
                        redact_free_list(copy);
                        return NULL;
                }
        return copy;
}

char **redact_free_list(char **secrets) {
        for (size_t i = 0; secrets && secrets[i]; i++)
                free(secrets[i]);
        free(secrets);
        return NULL;
}
