/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <string.h>

#include <mhc/error.h>

#include "util.h"
#include "yaml.h"
#include "check-run.h"

static mh_node *parse_ok(const char *text) {
        mh_error e = MH_ERROR_INIT;
        mh_node *root = NULL;

        ck_assert_msg(mh_yaml_parse(text, strlen(text), "t.yaml", &root, &e) == 0, "%s", e.message);
        ck_assert_ptr_nonnull(root);
        ck_assert(!mh_error_is_set(&e));
        return root;
}

/* text must fail with exactly message, and leave ret alone. */
static void check_error(const char *text, size_t size, const char *message) {
        mh_error e = MH_ERROR_INIT;
        mh_node *root = (mh_node *) 0x1;

        ck_assert_int_eq(mh_yaml_parse(text, size, "t.yaml", &root, &e), -MH_ERR_YAML);
        ck_assert_int_eq(e.code, -MH_ERR_YAML);
        ck_assert_str_eq(e.message, message);
        ck_assert_ptr_eq(root, (mh_node *) 0x1);
}

static void check_fails(const char *text, const char *message) {
        check_error(text, strlen(text), message);
}

static void check_at(const mh_node *n, mh_node_kind kind, unsigned line, unsigned column) {
        ck_assert_ptr_nonnull(n);
        ck_assert_int_eq(n->kind, kind);
        ck_assert_uint_eq(n->line, line);
        ck_assert_uint_eq(n->column, column);
}

static void check_scalar(const mh_node *n, const char *value, int plain, unsigned line,
                         unsigned column) {
        check_at(n, MH_NODE_SCALAR, line, column);
        ck_assert_str_eq(n->value, value);
        ck_assert_uint_eq(n->length, strlen(value));
        ck_assert_int_eq(n->plain, plain);
}

START_TEST(test_scalars) {
        mh_node *root = parse_ok("plain: text here\n"
                                 "single: 'it''s'\n"
                                 "double: \"a\\tb\"\n"
                                 "tagged: !!str null\n"
                                 "folded: >\n"
                                 "  one\n"
                                 "  two\n"
                                 "empty:\n"
                                 "number: 42\n");

        check_at(root, MH_NODE_MAPPING, 1, 1);
        ck_assert_uint_eq(root->n_pairs, 7);
        check_scalar(root->pairs[0].key, "plain", 1, 1, 1);
        check_scalar(root->pairs[0].value, "text here", 1, 1, 8);
        check_scalar(root->pairs[1].value, "it's", 0, 2, 9);
        check_scalar(root->pairs[2].value, "a\tb", 0, 3, 9);
        /* A tag makes an unquoted scalar a string: not plain. */
        check_scalar(root->pairs[3].value, "null", 0, 4, 9);
        check_scalar(root->pairs[4].value, "one two\n", 0, 5, 9);
        check_scalar(root->pairs[5].value, "", 1, 8, 7);
        check_scalar(root->pairs[6].value, "42", 1, 9, 9);
        mh_node_free(root);
}
END_TEST

START_TEST(test_scalar_with_nul_keeps_its_length) {
        mh_node *root = parse_ok("k: \"a\\0b\"\n");
        const mh_node *v = mh_node_get(root, "k");

        ck_assert_uint_eq(v->length, 3);
        ck_assert_mem_eq(v->value, "a\0b", 4);
        mh_node_free(root);
}
END_TEST

START_TEST(test_sequences) {
        mh_node *root = parse_ok("block:\n"
                                 "  - a\n"
                                 "  - \"b\"\n"
                                 "  -\n"
                                 "flow: [1, [2, 3], {k: v}]\n"
                                 "none: []\n");
        const mh_node *block = mh_node_get(root, "block");
        const mh_node *flow = mh_node_get(root, "flow");

        check_at(block, MH_NODE_SEQUENCE, 2, 3);
        ck_assert_uint_eq(block->n_items, 3);
        check_scalar(block->items[0], "a", 1, 2, 5);
        check_scalar(block->items[1], "b", 0, 3, 5);
        check_scalar(block->items[2], "", 1, 4, 4);

        check_at(flow, MH_NODE_SEQUENCE, 5, 7);
        ck_assert_uint_eq(flow->n_items, 3);
        check_scalar(flow->items[0], "1", 1, 5, 8);
        check_at(flow->items[1], MH_NODE_SEQUENCE, 5, 11);
        ck_assert_uint_eq(flow->items[1]->n_items, 2);
        check_scalar(flow->items[1]->items[1], "3", 1, 5, 15);
        check_at(flow->items[2], MH_NODE_MAPPING, 5, 19);
        check_scalar(mh_node_get(flow->items[2], "k"), "v", 1, 5, 23);

        check_at(mh_node_get(root, "none"), MH_NODE_SEQUENCE, 6, 7);
        ck_assert_uint_eq(mh_node_get(root, "none")->n_items, 0);
        mh_node_free(root);
}
END_TEST

START_TEST(test_nested_mappings_keep_positions) {
        mh_node *root = parse_ok("# a comment\n"
                                 "domains:\n"
                                 "  - id: lab\n"
                                 "    hosts:\n"
                                 "      - hostname: client.lab.test\n"
                                 "        conn:\n"
                                 "          port: 2222\n");
        const mh_node *domain, *host, *conn;

        check_at(root, MH_NODE_MAPPING, 2, 1);
        check_at(mh_node_get(root, "domains"), MH_NODE_SEQUENCE, 3, 3);
        domain = mh_node_get(root, "domains")->items[0];
        check_at(domain, MH_NODE_MAPPING, 3, 5);
        check_scalar(domain->pairs[0].key, "id", 1, 3, 5);
        check_scalar(mh_node_get(domain, "id"), "lab", 1, 3, 9);
        host = mh_node_get(domain, "hosts")->items[0];
        check_at(host, MH_NODE_MAPPING, 5, 9);
        check_scalar(host->pairs[0].value, "client.lab.test", 1, 5, 19);
        conn = mh_node_get(host, "conn");
        check_at(conn, MH_NODE_MAPPING, 7, 11);
        check_scalar(conn->pairs[0].key, "port", 1, 7, 11);
        check_scalar(mh_node_get(conn, "port"), "2222", 1, 7, 17);
        mh_node_free(root);
}
END_TEST

START_TEST(test_keys_stay_in_file_order) {
        mh_node *root = parse_ok("z: 1\na: 2\nm: 3\n");

        ck_assert_uint_eq(root->n_pairs, 3);
        ck_assert_str_eq(root->pairs[0].key->value, "z");
        ck_assert_str_eq(root->pairs[1].key->value, "a");
        ck_assert_str_eq(root->pairs[2].key->value, "m");
        mh_node_free(root);
}
END_TEST

START_TEST(test_node_get) {
        mh_node *root = parse_ok("a: 1\nseq: [x]\n\"n\\0ul\": 2\n");

        ck_assert_str_eq(mh_node_get(root, "a")->value, "1");
        ck_assert_ptr_null(mh_node_get(root, "b"));
        ck_assert_ptr_null(mh_node_get(root, "A"));
        /* A key with a NUL in it is not the key before the NUL. */
        ck_assert_ptr_null(mh_node_get(root, "n"));
        ck_assert_ptr_null(mh_node_get(mh_node_get(root, "seq"), "x"));
        ck_assert_ptr_null(mh_node_get(mh_node_get(root, "a"), "a"));
        ck_assert_ptr_null(mh_node_get(NULL, "a"));
        ck_assert_ptr_null(mh_node_get(root, NULL));
        mh_node_free(root);
}
END_TEST

START_TEST(test_duplicate_keys) {
        check_fails("a: 1\nb: 2\na: 3\n", "t.yaml:3:1: duplicate key 'a' (first at 1:1)");
        check_fails("top:\n"
                    "  - id: x\n"
                    "    name: n\n"
                    "    id: y\n",
                    "t.yaml:4:5: duplicate key 'id' (first at 2:5)");
        check_fails("{a: 1, 'a': 2}", "t.yaml:1:8: duplicate key 'a' (first at 1:2)");
}
END_TEST

START_TEST(test_same_key_in_different_mappings) {
        mh_node *root = parse_ok("a: {k: 1}\nb: {k: 2}\nk: 3\n");

        ck_assert_str_eq(mh_node_get(mh_node_get(root, "b"), "k")->value, "2");
        mh_node_free(root);
}
END_TEST

/* Many keys make the set of keys grow; the duplicate is still found. */
START_TEST(test_duplicate_among_many_keys) {
        mh_buf b = MH_BUF_INIT((size_t) 64 << 20);
        _cleanup_free_ char *text = NULL;
        size_t size;

        for (int i = 0; i < 5000; i++)
                ck_assert_int_eq(mh_buf_printf(&b, "key%d: %d\n", i, i), 0);
        ck_assert_int_eq(mh_buf_printf(&b, "key1234: again\n"), 0);
        text = mh_buf_steal(&b, &size);
        check_error(text, size, "t.yaml:5001:1: duplicate key 'key1234' (first at 1235:1)");
}
END_TEST

START_TEST(test_aliases_are_refused) {
        check_fails("a: &x 1\nb: *x\n", "t.yaml:2:4: aliases are not supported");
        check_fails("base: &b {k: v}\n"
                    "other:\n"
                    "  <<: *b\n",
                    "t.yaml:3:7: aliases are not supported");
}
END_TEST

START_TEST(test_anchor_alone_is_harmless) {
        mh_node *root = parse_ok("a: &x 1\n");

        ck_assert_str_eq(mh_node_get(root, "a")->value, "1");
        mh_node_free(root);
}
END_TEST

START_TEST(test_keys_must_be_scalars) {
        check_fails("? [a, b]\n: 1\n", "t.yaml:1:3: mapping keys must be scalars, not a sequence");
        check_fails("{{k: v}: 1}", "t.yaml:1:2: mapping keys must be scalars, not a mapping");
}
END_TEST

START_TEST(test_malformed_input_is_located) {
        check_fails("a: [1, 2\n",
                    "t.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence)");
        check_fails("a: b: c\n", "t.yaml:1:5: mapping values are not allowed in this context");
        check_fails("a:\n  b: 1\n c: 2\n",
                    "t.yaml:3:2: did not find expected key (while parsing a block mapping)");
        check_fails("a: 'open\n",
                    "t.yaml:2:1: found unexpected end of stream (while scanning a quoted scalar)");
        check_fails("a:\n\tb: 1\n", "t.yaml:2:1: found character that cannot start any token "
                                    "(while scanning for the next token)");
        check_fails("a: \"\xff\"\n", "t.yaml:1:5: invalid leading UTF-8 octet (#FF)");
        check_fails("a: 1\nb: \x01\n", "t.yaml:2:4: control characters are not allowed (#1)");
}
END_TEST

START_TEST(test_nul_byte_in_input) {
        check_error("a: 1\0b: 2\n", 10, "t.yaml:1:5: control characters are not allowed (#0)");
}
END_TEST

static char *nested_flow(int depth) {
        char *s = malloc(2 * (size_t) depth + 1);

        ck_assert_ptr_nonnull(s);
        memset(s, '[', (size_t) depth);
        memset(s + depth, ']', (size_t) depth);
        s[2 * depth] = '\0';
        return s;
}

START_TEST(test_depth_limit) {
        _cleanup_free_ char *ok = nested_flow(64), *deep = nested_flow(65),
                            *hostile = nested_flow(100000);
        mh_buf b = MH_BUF_INIT((size_t) 64 << 20);
        _cleanup_free_ char *block = NULL;
        mh_node *root = parse_ok(ok);

        mh_node_free(root);
        check_fails(deep, "t.yaml:1:65: nesting is deeper than 64 levels");
        check_fails(hostile, "t.yaml:1:65: nesting is deeper than 64 levels");

        for (int i = 0; i < 65; i++)
                ck_assert_int_eq(mh_buf_printf(&b, "%*sk:\n", 2 * i, ""), 0);
        block = mh_buf_steal(&b, NULL);
        check_fails(block, "t.yaml:65:129: nesting is deeper than 64 levels");
}
END_TEST

START_TEST(test_node_limit) {
        mh_buf b = { .max = 1 << 20 };
        _cleanup_free_ char *text = NULL;
        mh_node *root;

        /* The sequence and 99999 items: exactly at the limit. */
        ck_assert_int_eq(mh_buf_append(&b, "[0", 2), 0);
        for (int i = 1; i < 99999; i++)
                ck_assert_int_eq(mh_buf_append(&b, ",0", 2), 0);
        ck_assert_int_eq(mh_buf_append(&b, "]", 1), 0);
        text = mh_buf_steal(&b, NULL);
        root = parse_ok(text);
        ck_assert_uint_eq(root->n_items, 99999);
        mh_node_free(root);

        text[strlen(text) - 1] = ',';
        b = (mh_buf){ .max = 1 << 20 };
        ck_assert_int_eq(mh_buf_printf(&b, "%s0]", text), 0);
        free(text);
        text = mh_buf_steal(&b, NULL);
        check_fails(text, "t.yaml:1:200000: the document has more than 100000 nodes");
}
END_TEST

START_TEST(test_empty_document_is_empty_mapping) {
        static const char *const texts[] = { "", "# only a comment\n", "---\n", "\n\n",
                                             "--- \n...\n" };

        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                mh_node *root = parse_ok(texts[i]);

                check_at(root, MH_NODE_MAPPING, 1, 1);
                ck_assert_uint_eq(root->n_pairs, 0);
                mh_node_free(root);
        }
}
END_TEST

START_TEST(test_null_text_with_zero_size) {
        mh_node *root = NULL;

        ck_assert_int_eq(mh_yaml_parse(NULL, 0, "t.yaml", &root, NULL), 0);
        check_at(root, MH_NODE_MAPPING, 1, 1);
        mh_node_free(root);
        ck_assert_int_eq(mh_yaml_parse(NULL, 1, "t.yaml", &root, NULL), -EINVAL);
        ck_assert_int_eq(mh_yaml_parse("a: 1", 4, "t.yaml", NULL, NULL), -EINVAL);
}
END_TEST

START_TEST(test_explicit_single_document) {
        mh_node *root = parse_ok("---\na: 1\n...\n");

        ck_assert_str_eq(mh_node_get(root, "a")->value, "1");
        mh_node_free(root);
}
END_TEST

START_TEST(test_multiple_documents_are_refused) {
        check_fails("a: 1\n---\nb: 2\n", "t.yaml:2:1: multiple documents are not supported");
        check_fails("---\na: 1\n...\n---\n", "t.yaml:4:1: multiple documents are not supported");
}
END_TEST

START_TEST(test_scalar_root_is_kept) {
        mh_node *root = parse_ok("just text\n");

        check_scalar(root, "just text", 1, 1, 1);
        mh_node_free(root);
}
END_TEST

START_TEST(test_error_may_be_null) {
        mh_node *root = NULL;

        ck_assert_int_eq(mh_yaml_parse("a: [", 4, NULL, &root, NULL), -MH_ERR_YAML);
        ck_assert_ptr_null(root);
}
END_TEST

START_TEST(test_origin_defaults) {
        mh_error e = MH_ERROR_INIT;
        mh_node *root = NULL;

        ck_assert_int_eq(mh_yaml_parse("*a", 2, NULL, &root, &e), -MH_ERR_YAML);
        ck_assert_str_eq(e.message, "<input>:1:1: aliases are not supported");
}
END_TEST

START_TEST(test_kind_to_string) {
        ck_assert_str_eq(mh_node_kind_to_string(MH_NODE_SCALAR), "scalar");
        ck_assert_str_eq(mh_node_kind_to_string(MH_NODE_SEQUENCE), "sequence");
        ck_assert_str_eq(mh_node_kind_to_string(MH_NODE_MAPPING), "mapping");
        ck_assert_str_eq(mh_node_kind_to_string((mh_node_kind) 42), "unknown");
}
END_TEST

START_TEST(test_free_null) {
        ck_assert_ptr_null(mh_node_free(NULL));
}
END_TEST

static Suite *yaml_suite(void) {
        Suite *s = suite_create("yaml");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_scalars);
        tcase_add_test(tc, test_scalar_with_nul_keeps_its_length);
        tcase_add_test(tc, test_sequences);
        tcase_add_test(tc, test_nested_mappings_keep_positions);
        tcase_add_test(tc, test_keys_stay_in_file_order);
        tcase_add_test(tc, test_node_get);
        tcase_add_test(tc, test_duplicate_keys);
        tcase_add_test(tc, test_same_key_in_different_mappings);
        tcase_add_test(tc, test_duplicate_among_many_keys);
        tcase_add_test(tc, test_aliases_are_refused);
        tcase_add_test(tc, test_anchor_alone_is_harmless);
        tcase_add_test(tc, test_keys_must_be_scalars);
        tcase_add_test(tc, test_malformed_input_is_located);
        tcase_add_test(tc, test_nul_byte_in_input);
        tcase_add_test(tc, test_depth_limit);
        tcase_add_test(tc, test_node_limit);
        tcase_add_test(tc, test_empty_document_is_empty_mapping);
        tcase_add_test(tc, test_null_text_with_zero_size);
        tcase_add_test(tc, test_explicit_single_document);
        tcase_add_test(tc, test_multiple_documents_are_refused);
        tcase_add_test(tc, test_scalar_root_is_kept);
        tcase_add_test(tc, test_error_may_be_null);
        tcase_add_test(tc, test_origin_defaults);
        tcase_add_test(tc, test_kind_to_string);
        tcase_add_test(tc, test_free_null);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(yaml_suite());
}
