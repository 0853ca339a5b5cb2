/* SPDX-License-Identifier: MIT */
/* A user's program built against an installed libmhc (make installcheck). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mhc/mhc.h>

static const char yaml[] =
        "domains:\n"
        "  - id: lab\n"
        "    hosts:\n"
        "      - hostname: client.example.test\n"
        "        role: client\n";

int main(void) {
        mh_error error = MH_ERROR_INIT;
        mh_config *config = NULL;
        char *quoted = NULL;
        int r;

        r = mh_config_parse(yaml, strlen(yaml), "inline.yaml", NULL, &config, &error);
        if (r < 0) {
                fprintf(stderr, "hello: %s\n", error.message);
                return 1;
        }
        if (mh_shell_quote("it's", &quoted) < 0)
                return 1;
        printf("libmhc %s: %s is a %s host; quoted %s\n", mh_version(),
               mh_host_config_hostname(mh_config_host(config, 0)),
               mh_host_config_type(mh_config_host(config, 0)), quoted);
        free(quoted);
        mh_config_free(config);
        return 0;
}
