/* SPDX-License-Identifier: MIT */
#ifndef MH_INI_H
#define MH_INI_H

/*
 * Edits of INI-style text (sssd.conf, krb5.conf, php.ini): one key of one
 * section set or removed, every other byte of the file kept.  A section is
 * "[name]" on a line of its own; keys before the first header belong to
 * section NULL (or "").  Lines starting with '#' or ';' are comments, and
 * krb5.conf's nested blocks ("EXAMPLE.COM = {" to "}") are passed over.
 */

/* Set key to value in section of text, into a new string at *ret: the key's
 * first line is rewritten after its "=" (its indentation and spacing kept)
 * and its later lines in the section dropped; a key the section lacks goes
 * after the section's last key; a section the text lacks is appended.  A
 * NULL value removes the key.  -EINVAL for a key or section that cannot be
 * written (empty, a newline, a bracket, an "="), -ENOMEM. */
int mh_ini_set_text(const char *text, const char *section, const char *key, const char *value,
                    char **ret);

#endif
