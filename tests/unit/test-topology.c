/* SPDX-License-Identifier: MIT */
/* Placeholder: filled in by issue 4. */
int main(void) {
        return 77;
}
