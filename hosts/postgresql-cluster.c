/* SPDX-License-Identifier: MIT */
/*
 * The cluster's shared state, which no template copy holds: the roles
 * (their attributes, stored password hashes, memberships, comments), each
 * database's row in pg_database (name, owner, ACL, connection limit,
 * flags, comment), the settings of ALTER DATABASE/ROLE ... SET, the
 * replication slots and ALTER SYSTEM's postgresql.auto.conf.  A backup
 * records it as one JSON document (made by the server); a restore hands
 * the document back as a parameter to queries that compare it with the
 * catalogs and return the statements that put it back, run one by one.
 *
 * The SQL commands are used where they restore the exact value, so that
 * the server's checks and dependency records (pg_shdepend) stay right; the
 * catalogs are written directly only where no command can: a role's
 * stored password hash (ALTER ROLE ... PASSWORD would put it in the
 * statement's text, that logs and pg_stat_activity show; here it travels
 * as a parameter, which mhc's sessions keep out of the server's log), a
 * NULL VALID UNTIL, the stored arrays of pg_db_role_setting, and the order
 * of a database's ACL once GRANT and REVOKE made its entries right.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mhc/log.h>
#include <mhc/systemd.h>

#include "macro.h"
#include "postgresql.h"

#define RELOAD_WAIT_MSEC 5000 /* for our session to read the configuration again */

/*
 * What the backup recorded, as $1: roles (sr), databases (sd); $2 maps the
 * oids of the databases re-created since to their oids now (cur_oid).
 */
#define SAVED                                                                                      \
        "WITH sr AS (SELECT * FROM json_populate_recordset(NULL::pg_authid, $1::json->'roles')), " \
        "sd AS (SELECT x.*, coalesce(($2::json->>x.oid::text)::oid, x.oid) AS cur_oid "            \
        "FROM json_to_recordset($1::json->'databases') AS x(oid oid, datname name, "               \
        "datdba oid, datconnlimit int, datallowconn bool, datistemplate bool, "                    \
        "datacl text[])) "

#define NOT_A_COPY(column) column " !~ '^" PG_COPY_PREFIX "[0-9a-f]{16}_'"

/* clang-format off */
static const char record_sql[] =
        "SELECT json_build_object("
        "'roles', (SELECT coalesce(json_agg(a ORDER BY a.oid), '[]') FROM pg_authid a), "
        "'members', (SELECT coalesce(json_agg(m), '[]') FROM pg_auth_members m), "
        "'databases', (SELECT coalesce(json_agg(json_build_object('oid', d.oid, "
        "  'datname', d.datname, 'datdba', d.datdba, 'datconnlimit', d.datconnlimit, "
        "  'datallowconn', d.datallowconn, 'datistemplate', d.datistemplate, "
        "  'datacl', d.datacl::text[]) ORDER BY d.oid), '[]') "
        "  FROM pg_database d WHERE " PG_NOT_MHC("d.datname") "), "
        "'comments', (SELECT coalesce(json_agg(json_build_object("
        "  'classoid', c.classoid::regclass::text, 'objoid', c.objoid, "
        "  'description', c.description)), '[]') FROM pg_shdescription c "
        "  WHERE c.classoid IN ('pg_authid'::regclass, 'pg_database'::regclass)), "
        "'settings', (SELECT coalesce(json_agg(s), '[]') FROM pg_db_role_setting s), "
        "'slots', (SELECT coalesce(json_agg(json_build_object('slot_name', slot_name, "
        "  'plugin', plugin, 'slot_type', slot_type, 'database', database, "
        "  'two_phase', two_phase, 'reserved', restart_lsn IS NOT NULL) ORDER BY slot_name), "
        "  '[]') FROM pg_replication_slots WHERE NOT temporary), "
        "'autoconf', coalesce(pg_read_file('postgresql.auto.conf', 0, 1048576, true), ''), "
        "'autoconf_settings', (SELECT coalesce(json_agg(json_build_object('name', name, "
        "  'setting', setting) ORDER BY seqno), '[]') FROM pg_file_settings "
        "  WHERE sourcefile LIKE '%/postgresql.auto.conf'))::text";

/* The slots the backup has not (a test's), and the logical ones of the
 * databases about to be re-created ($2): they would keep them from going. */
#define SLOTS_TO_DROP                                                                           \
        "FROM pg_replication_slots r WHERE NOT r.temporary AND (r.slot_name NOT IN "            \
        "(SELECT slot_name FROM json_to_recordset($1::json->'slots') AS x(slot_name name)) "    \
        "OR (r.slot_type = 'logical' AND r.database = ANY($2::name[])))"

static const char end_slot_users_sql[] =
        "SELECT count(pg_terminate_backend(r.active_pid, " PG_TERMINATE_WAIT ")) "
        SLOTS_TO_DROP " AND r.active_pid IS NOT NULL";

static const char drop_slots_sql[] =
        "SELECT count(pg_drop_replication_slot(r.slot_name)) " SLOTS_TO_DROP;

/* (mhc's databases of a restore cut short are new: dropped) */
static const char new_databases_sql[] =
        SAVED "SELECT datname FROM pg_database WHERE " NOT_A_COPY("datname")
        " AND oid NOT IN (SELECT cur_oid FROM sd) AND datname <> ALL($3::name[]) "
        "ORDER BY datname";

static const char new_roles_sql[] =
        SAVED "SELECT rolname FROM pg_authid WHERE oid NOT IN (SELECT oid FROM sr) ORDER BY rolname";

/* Roles and databases renamed (through a name of their own, as two may
 * have swapped names) or dropped: back under their names. */
static const char names_sql[] =
        SAVED "SELECT stmt FROM ("
        "SELECT 1 AS step, a.oid AS k, 0 AS sub, format('ALTER ROLE %I RENAME TO %I', "
        "  a.rolname, 'mhc_rename_' || a.oid) AS stmt FROM pg_authid a JOIN sr ON sr.oid = a.oid "
        "  WHERE a.rolname <> sr.rolname "
        "UNION ALL SELECT 2, a.oid, 0, format('ALTER ROLE %I RENAME TO %I', 'mhc_rename_' || a.oid, "
        "  sr.rolname) FROM pg_authid a JOIN sr ON sr.oid = a.oid WHERE a.rolname <> sr.rolname "
        "UNION ALL SELECT 3, sr.oid, 0, format('CREATE ROLE %I', sr.rolname) FROM sr "
        "  WHERE sr.oid NOT IN (SELECT oid FROM pg_authid) "
        "UNION ALL SELECT 4, d.oid, 0, format('SELECT count(pg_terminate_backend(pid, "
        PG_TERMINATE_WAIT ")) FROM pg_stat_activity WHERE datname = %L AND pid <> "
        "  pg_backend_pid()', d.datname) FROM pg_database d JOIN sd ON sd.cur_oid = d.oid "
        "  WHERE d.datname <> sd.datname "
        "UNION ALL SELECT 4, d.oid, 1, format('ALTER DATABASE %I RENAME TO %I', d.datname, "
        "  'mhc_rename_' || d.oid) FROM pg_database d JOIN sd ON sd.cur_oid = d.oid "
        "  WHERE d.datname <> sd.datname "
        "UNION ALL SELECT 5, d.oid, 0, format('ALTER DATABASE %I RENAME TO %I', "
        "  'mhc_rename_' || d.oid, sd.datname) FROM pg_database d JOIN sd ON sd.cur_oid = d.oid "
        "  WHERE d.datname <> sd.datname"
        ") x ORDER BY step, k, sub";

/* Every attribute of the roles, their stored password hash and VALID UNTIL included. */
#define ROLE_COLUMNS(t)                                                                         \
        t "rolsuper, " t "rolinherit, " t "rolcreaterole, " t "rolcreatedb, " t "rolcanlogin, " \
        t "rolreplication, " t "rolbypassrls, " t "rolconnlimit, " t "rolpassword, "           \
        t "rolvaliduntil"

static const char role_attributes_sql[] =
        SAVED "UPDATE pg_authid a SET (" ROLE_COLUMNS("") ") = (" ROLE_COLUMNS("sr.") ") "
        "FROM sr WHERE a.rolname = sr.rolname AND (" ROLE_COLUMNS("a.") ") IS DISTINCT FROM ("
        ROLE_COLUMNS("sr.") ")";

/* Memberships (GRANT role TO member): by the names of the roles, with their grantor. */
static const char memberships_sql[] =
        SAVED ", sm AS (SELECT * FROM json_to_recordset($1::json->'members') AS x(roleid oid, "
        "  member oid, grantor oid, admin_option bool)), "
        "want AS (SELECT r.rolname AS role, m.rolname AS member, g.rolname AS grantor, "
        "  sm.admin_option FROM sm JOIN sr r ON r.oid = sm.roleid JOIN sr m ON m.oid = sm.member "
        "  LEFT JOIN sr g ON g.oid = sm.grantor), "
        "have AS (SELECT r.rolname AS role, m.rolname AS member, g.rolname AS grantor, "
        "  am.admin_option FROM pg_auth_members am JOIN pg_authid r ON r.oid = am.roleid "
        "  JOIN pg_authid m ON m.oid = am.member LEFT JOIN pg_authid g ON g.oid = am.grantor) "
        "SELECT stmt FROM ("
        "SELECT 1 AS step, h.role, h.member, format('REVOKE %I FROM %I', h.role, h.member) "
        "  AS stmt FROM have h WHERE NOT EXISTS (SELECT 1 FROM want w WHERE (w.role, w.member, "
        "  w.grantor, w.admin_option) IS NOT DISTINCT FROM (h.role, h.member, h.grantor, "
        "  h.admin_option)) "
        "UNION ALL SELECT 2, w.role, w.member, format('GRANT %I TO %I%s%s', w.role, w.member, "
        "  CASE WHEN w.admin_option THEN ' WITH ADMIN OPTION' ELSE '' END, "
        "  CASE WHEN w.grantor IS NOT NULL THEN format(' GRANTED BY %I', w.grantor) ELSE '' END) "
        "  FROM want w WHERE NOT EXISTS (SELECT 1 FROM have h WHERE (w.role, w.member, "
        "  w.grantor, w.admin_option) IS NOT DISTINCT FROM (h.role, h.member, h.grantor, "
        "  h.admin_option))"
        ") x ORDER BY step, role, member";

/* Owner, connection limit, ALLOW_CONNECTIONS and IS_TEMPLATE of each database. */
static const char database_attributes_sql[] =
        SAVED "SELECT stmt FROM ("
        "SELECT 1 AS step, d.datname AS k, format('ALTER DATABASE %I OWNER TO %I', d.datname, "
        "  o.rolname) AS stmt FROM pg_database d JOIN sd USING (datname) "
        "  JOIN sr o ON o.oid = sd.datdba WHERE pg_get_userbyid(d.datdba) <> o.rolname "
        "UNION ALL SELECT 2, d.datname, format('ALTER DATABASE %I CONNECTION LIMIT %s', "
        "  d.datname, sd.datconnlimit) FROM pg_database d JOIN sd USING (datname) "
        "  WHERE d.datconnlimit <> sd.datconnlimit "
        "UNION ALL SELECT 2, d.datname, format('ALTER DATABASE %I ALLOW_CONNECTIONS %s', "
        "  d.datname, CASE WHEN sd.datallowconn THEN 'true' ELSE 'false' END) FROM pg_database d JOIN sd USING (datname) "
        "  WHERE d.datallowconn <> sd.datallowconn "
        "UNION ALL SELECT 2, d.datname, format('ALTER DATABASE %I IS_TEMPLATE %s', "
        "  d.datname, CASE WHEN sd.datistemplate THEN 'true' ELSE 'false' END) FROM pg_database d JOIN sd USING (datname) "
        "  WHERE d.datistemplate <> sd.datistemplate"
        ") x ORDER BY step, k";

/*
 * The GRANTs and REVOKEs that make each database's ACL hold the entries it
 * had (NULL: the default ones), each as its grantor (SET ROLE) unless that
 * is the owner, as whom a superuser's GRANT acts anyway; revokes first.
 */
static const char database_acls_sql[] =
        SAVED ", cur AS (SELECT d.datname, d.datdba AS owner, x.* FROM pg_database d "
        "  JOIN sd USING (datname), aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) x), "
        "sav AS (SELECT d.datname, d.datdba AS owner, x.* FROM pg_database d "
        "  JOIN sd USING (datname), "
        "  aclexplode(coalesce(sd.datacl::aclitem[], acldefault('d', d.datdba))) x), "
        "diff AS (SELECT coalesce(c.datname, s.datname) AS datname, "
        "  coalesce(c.owner, s.owner) AS owner, coalesce(c.grantor, s.grantor) AS grantor, "
        "  coalesce(c.grantee, s.grantee) AS grantee, "
        "  coalesce(c.privilege_type, s.privilege_type) AS priv, c.is_grantable AS cur_g, "
        "  s.is_grantable AS sav_g FROM cur c FULL JOIN sav s ON s.datname = c.datname "
        "  AND s.grantor = c.grantor AND s.grantee = c.grantee "
        "  AND s.privilege_type = c.privilege_type "
        "  WHERE c.is_grantable IS DISTINCT FROM s.is_grantable), "
        "st AS (SELECT datname, grantor, grantor <> owner AS as_grantor, "
        "  CASE WHEN sav_g IS NULL OR cur_g THEN 1 ELSE 2 END AS step, "
        "  CASE WHEN sav_g IS NULL "
        "    THEN format('REVOKE %s ON DATABASE %I FROM %s CASCADE', priv, datname, who) "
        "  WHEN cur_g IS NULL THEN format('GRANT %s ON DATABASE %I TO %s%s', priv, datname, who, "
        "    CASE WHEN sav_g THEN ' WITH GRANT OPTION' ELSE '' END) "
        "  WHEN cur_g THEN format('REVOKE GRANT OPTION FOR %s ON DATABASE %I FROM %s CASCADE', "
        "    priv, datname, who) "
        "  ELSE format('GRANT %s ON DATABASE %I TO %s WITH GRANT OPTION', priv, datname, who) "
        "  END AS stmt FROM diff, LATERAL (SELECT CASE WHEN grantee = 0 THEN 'PUBLIC' "
        "  ELSE quote_ident(pg_get_userbyid(grantee)) END AS who) w) "
        "SELECT stmt FROM ("
        "SELECT step, as_grantor, datname, grantor, 1 AS sub, stmt FROM st "
        "UNION ALL SELECT step, true, datname, grantor, 0, "
        "  format('SET ROLE %I', pg_get_userbyid(grantor)) FROM st WHERE as_grantor "
        "UNION ALL SELECT step, true, datname, grantor, 2, 'RESET ROLE' FROM st WHERE as_grantor"
        ") x ORDER BY step, as_grantor, datname, grantor, sub";

/* With the entries right, the ACL as it was, in its order (or NULL). */
static const char database_acl_order_sql[] =
        SAVED "UPDATE pg_database d SET datacl = sd.datacl::aclitem[] FROM sd "
        "WHERE d.datname = sd.datname AND d.datacl::text[] IS DISTINCT FROM sd.datacl";

/* The settings of ALTER DATABASE/ROLE ... SET, by the names of their database and role. */
#define WANTED_SETTINGS                                                                         \
        SAVED ", ss AS (SELECT * FROM json_to_recordset($1::json->'settings') AS x("            \
        "  setdatabase oid, setrole oid, setconfig text[])), "                                   \
        "want AS (SELECT coalesce(d.oid, 0) AS setdatabase, coalesce(r.oid, 0) AS setrole, "     \
        "  ss.setconfig FROM ss LEFT JOIN sd ON sd.oid = ss.setdatabase "                        \
        "  LEFT JOIN sr ON sr.oid = ss.setrole "                                                 \
        "  LEFT JOIN pg_database d ON d.datname = sd.datname "                                   \
        "  LEFT JOIN pg_authid r ON r.rolname = sr.rolname "                                     \
        "  WHERE (ss.setdatabase = 0 OR d.oid IS NOT NULL) "                                     \
        "  AND (ss.setrole = 0 OR r.oid IS NOT NULL)) "

static const char drop_settings_sql[] =
        WANTED_SETTINGS "DELETE FROM pg_db_role_setting p WHERE NOT EXISTS (SELECT 1 FROM want w "
        "WHERE w.setdatabase = p.setdatabase AND w.setrole = p.setrole "
        "AND w.setconfig = p.setconfig)";

static const char add_settings_sql[] =
        WANTED_SETTINGS "INSERT INTO pg_db_role_setting (setdatabase, setrole, setconfig) "
        "SELECT w.setdatabase, w.setrole, w.setconfig FROM want w WHERE NOT EXISTS (SELECT 1 "
        "FROM pg_db_role_setting p WHERE p.setdatabase = w.setdatabase "
        "AND p.setrole = w.setrole)";

/* COMMENT ON ROLE and ON DATABASE. */
static const char comments_sql[] =
        SAVED ", sc AS (SELECT * FROM json_to_recordset($1::json->'comments') AS x("
        "  classoid text, objoid oid, description text)), "
        "want AS (SELECT 'ROLE' AS kind, sr.rolname AS name, sc.description FROM sc "
        "  JOIN sr ON sr.oid = sc.objoid WHERE sc.classoid = 'pg_authid' "
        "  UNION ALL SELECT 'DATABASE', sd.datname, sc.description FROM sc "
        "  JOIN sd ON sd.oid = sc.objoid WHERE sc.classoid = 'pg_database'), "
        "have AS (SELECT 'ROLE' AS kind, a.rolname AS name, c.description "
        "  FROM pg_shdescription c JOIN pg_authid a ON a.oid = c.objoid "
        "  WHERE c.classoid = 'pg_authid'::regclass "
        "  UNION ALL SELECT 'DATABASE', d.datname, c.description FROM pg_shdescription c "
        "  JOIN pg_database d ON d.oid = c.objoid WHERE c.classoid = 'pg_database'::regclass) "
        "SELECT format('COMMENT ON %s %I IS %L', coalesce(w.kind, h.kind), "
        "  coalesce(w.name, h.name), w.description) FROM want w FULL JOIN have h "
        "  ON h.kind = w.kind AND h.name = w.name "
        "WHERE w.description IS DISTINCT FROM h.description AND (w.name IS NOT NULL "
        "  OR h.name IN (SELECT rolname FROM sr UNION ALL SELECT datname FROM sd)) "
        "ORDER BY 1";

/* The slots the backup had that are gone: made anew (in their database when logical). */
static const char make_slots_sql[] =
        "SELECT CASE WHEN s.slot_type = 'logical' THEN s.database END, "
        "CASE WHEN s.slot_type = 'physical' "
        "  THEN format('SELECT pg_create_physical_replication_slot(%L, %s)', s.slot_name, "
        "  CASE WHEN s.reserved THEN 'true' ELSE 'false' END) "
        "  ELSE format('SELECT pg_create_logical_replication_slot(%L, %L, false, %s)', "
        "  s.slot_name, s.plugin, CASE WHEN s.two_phase THEN 'true' ELSE 'false' END) END "
        "FROM json_to_recordset($1::json->'slots') AS s(slot_name name, plugin name, "
        "  slot_type text, database name, two_phase bool, reserved bool) "
        "WHERE s.slot_name NOT IN (SELECT slot_name FROM pg_replication_slots) "
        "ORDER BY s.slot_name";

/*
 * ALTER SYSTEM: when postgresql.auto.conf differs, RESET ALL and each
 * setting again in its order.  Its values are as ALTER SYSTEM flattened
 * them; those of the settings whose lists hold quoted identifiers
 * (GUC_LIST_QUOTE, the list pg_dump keeps too) are such a list already and
 * go as they are (each statement is sent alone: nothing more can follow).
 */
static const char system_settings_sql[] =
        "SELECT stmt FROM ("
        "SELECT 0::bigint AS n, 'ALTER SYSTEM RESET ALL' AS stmt "
        "UNION ALL SELECT e.n, format('ALTER SYSTEM SET %s = %s', "
        "  CASE WHEN e.v->>'name' ~ '^[a-z_][a-z0-9_]*(\\.[a-z_][a-z0-9_]*)?$' "
        "  THEN e.v->>'name' ELSE quote_ident(e.v->>'name') END, "
        "  CASE WHEN e.v->>'name' IN ('local_preload_libraries', 'search_path', "
        "  'session_preload_libraries', 'shared_preload_libraries', 'temp_tablespaces', "
        "  'unix_socket_directories') THEN e.v->>'setting' "
        "  ELSE quote_literal(e.v->>'setting') END) "
        "  FROM json_array_elements($1::json->'autoconf_settings') WITH ORDINALITY AS e(v, n)"
        ") x WHERE md5(coalesce(pg_read_file('postgresql.auto.conf', 0, 1048576, true), '')) "
        "<> md5($1::json->>'autoconf') ORDER BY n";
/* clang-format on */

int pg_cluster_record(pg_host *p, char **ret, mh_error *e) {
        int r = pg_query_value(p, NULL, record_sql, 0, NULL, ret, e);

        if (r < 0)
                mh_error_prefix(e, "cannot record the cluster's roles and settings");
        return r;
}

/* The statements a query of the saved state returns (in database, NULL: dbname), each run
 * alone in dbname; how many in *ret_n. */
static int run_generated(pg_host *p, const char *sql, const char *const *params, int n_params,
                         size_t *ret_n, mh_error *e) {
        mh_strv statements = {};
        int r;

        r = pg_query_strv(p, NULL, sql, n_params, params, &statements, e);
        for (size_t i = 0; r >= 0 && i < statements.n; i++) {
                mh_log(MH_LOG_DEBUG, pg_hostname(p), "%s", statements.items[i]);
                r = pg_admin(p, statements.items[i], 0, NULL, NULL, e);
        }
        if (r >= 0 && ret_n)
                *ret_n = statements.n;
        mh_strv_dispose(&statements);
        return r;
}

/* The text of b into *ret when r says all went well. */
static int finish(mh_buf *b, int r, char **ret) {
        if (r < 0) {
                mh_buf_dispose(b);
                return r;
        }
        *ret = mh_buf_steal(b, NULL);
        return *ret ? 0 : -ENOMEM;
}

int pg_cluster_oid_map(const mh_strv *at_backup, const mh_strv *now, char **ret) {
        mh_buf b = { .max = (size_t) 1 << 20 };
        int r = mh_buf_append(&b, "{", 1);
        bool first = true;

        for (size_t i = 0; r >= 0 && i < at_backup->n && i < now->n; i++)
                if (now->items[i][0] && !streq(now->items[i], at_backup->items[i])) {
                        r = mh_buf_printf(&b, "%s\"%s\": \"%s\"", first ? "" : ", ",
                                          at_backup->items[i], now->items[i]);
                        first = false;
                }
        if (r >= 0)
                r = mh_buf_append(&b, "}", 1);
        return finish(&b, r, ret);
}

/* '{"a","b"}': names as an array literal, malloc'd. */
static int array_literal(const mh_strv *v, char **ret) {
        mh_buf b = { .max = (size_t) 1 << 24 };
        int r = mh_buf_append(&b, "{", 1);

        for (size_t i = 0; r >= 0 && i < v->n; i++) {
                r = mh_buf_append(&b, i ? ",\"" : "\"", i ? 2 : 1);
                for (const char *s = v->items[i]; r >= 0 && *s; s++) {
                        if (*s == '"' || *s == '\\')
                                r = mh_buf_append(&b, "\\", 1);
                        if (r >= 0)
                                r = mh_buf_append(&b, s, 1);
                }
                if (r >= 0)
                        r = mh_buf_append(&b, "\"", 1);
        }
        if (r >= 0)
                r = mh_buf_append(&b, "}", 1);
        return finish(&b, r, ret);
}

int pg_cluster_restore_names(pg_host *p, const char *saved, const char *oid_map,
                             const mh_strv *backed_up, const mh_strv *recreating,
                             pg_drop_fn drop_database, pg_drop_fn drop_role, mh_error *e) {
        _cleanup_free_ char *list = NULL, *kept = NULL;
        mh_strv names = {};
        int r;

        if (array_literal(recreating, &list) < 0 || array_literal(backed_up, &kept) < 0)
                return mh_error_oom(e);
        const char *params[] = { saved, oid_map, kept }, *slot_params[] = { saved, list };

        /* the test's slots, and the logical slots that would keep a database from going */
        r = pg_admin(p, end_slot_users_sql, 2, slot_params, NULL, e);
        if (r >= 0)
                r = pg_admin(p, drop_slots_sql, 2, slot_params, NULL, e);
        if (r < 0) {
                mh_error_prefix(e, "cannot drop replication slots");
                return r;
        }

        /* the databases the test made, then its roles (which may have owned those) */
        r = pg_query_strv(p, NULL, new_databases_sql, 3, params, &names, e);
        for (size_t i = 0; r >= 0 && i < names.n; i++) {
                mh_log(MH_LOG_DEBUG, pg_hostname(p), "dropping new database '%s'", names.items[i]);
                r = drop_database(p, names.items[i], e);
        }
        mh_strv_dispose(&names);
        if (r >= 0)
                r = pg_query_strv(p, NULL, new_roles_sql, 2, params, &names, e);
        for (size_t i = 0; r >= 0 && i < names.n; i++) {
                mh_log(MH_LOG_DEBUG, pg_hostname(p), "dropping new role '%s'", names.items[i]);
                r = drop_role(p, names.items[i], e);
        }
        mh_strv_dispose(&names);
        if (r < 0)
                return r;

        /* the roles and databases that were there, under their names, roles as they were */
        r = run_generated(p, names_sql, params, 2, NULL, e);
        if (r >= 0)
                r = pg_admin(p, role_attributes_sql, 2, params, NULL, e);
        if (r >= 0)
                r = run_generated(p, memberships_sql, params, 2, NULL, e);
        if (r < 0)
                mh_error_prefix(e, "cannot put back roles");
        return r;
}

/* Wait until our session read the configuration again after pg_reload_conf(). */
static int wait_reload(pg_host *p, const char *before, mh_error *e) {
        const char *params[] = { before };
        uint64_t deadline = mh_now_usec() + RELOAD_WAIT_MSEC * 1000ull;

        for (;;) {
                _cleanup_free_ char *done = NULL;
                struct timespec ts = { .tv_nsec = 5 * 1000 * 1000 };
                int r;

                r = pg_query_value(p, NULL, "SELECT pg_conf_load_time() > $1::timestamptz", 1,
                                   params, &done, e);
                if (r < 0)
                        return r;
                if (streq(done, "t"))
                        return 0;
                if (mh_now_usec() >= deadline)
                        return mh_error_set(e, -ETIMEDOUT,
                                            "the server did not load its configuration again "
                                            "within %u ms",
                                            RELOAD_WAIT_MSEC);
                nanosleep(&ts, NULL);
        }
}

/* ALTER SYSTEM's file as it was, the configuration loaded again, and the services restarted
 * when a setting waits for a restart. */
static int restore_system_settings(pg_host *p, const char *saved, mh_error *e) {
        _cleanup_free_ char *before = NULL, *pending = NULL;
        const char *params[] = { saved };
        mh_host *h = pg_host_of(p);
        size_t n = 0;
        int r;

        r = pg_query_value(p, NULL, "SELECT pg_conf_load_time()::text", 0, NULL, &before, e);
        if (r >= 0)
                r = run_generated(p, system_settings_sql, params, 1, &n, e);
        if (r < 0 || n == 0)
                return r;
        r = pg_admin(p, "SELECT pg_reload_conf()", 0, NULL, NULL, e);
        if (r >= 0)
                r = wait_reload(p, before, e);
        if (r >= 0)
                r = pg_query_value(p, NULL,
                                   "SELECT coalesce(string_agg(name, ', ' ORDER BY name), '') "
                                   "FROM pg_settings WHERE pending_restart",
                                   0, NULL, &pending, e);
        if (r < 0 || !pending[0])
                return r;

        mh_log(MH_LOG_DEBUG, pg_hostname(p), "restarting PostgreSQL for %s", pending);
        for (size_t i = 0; i < mh_host_config_n_services(h->config); i++) {
                struct mh_systemd *sd = mh_host_systemd(h, e);
                const char *unit = mh_host_config_service(h->config, i);

                for (size_t j = 0; j < p->n_conns; j++)
                        mh_postgresql_disconnect(h, p->conns[j].database);
                if (!sd)
                        return -MH_ERR_COMMAND;
                r = mh_systemd_restart_unit(sd, unit,
                                            mh_host_config_command_timeout(h->config) * 1000u, e);
                if (r < 0) {
                        mh_error_prefix(e, "cannot restart '%s' for %s", unit, pending);
                        return r;
                }
        }
        if (mh_host_config_n_services(h->config) == 0)
                return mh_error_set(e, -MH_ERR_COMMAND,
                                    "%s wait for PostgreSQL to restart, and the host lists no "
                                    "services to restart",
                                    pending);
        return 0;
}

int pg_cluster_restore_rest(pg_host *p, const char *saved, const char *oid_map, mh_error *e) {
        const char *params[] = { saved, oid_map };
        int r;

        r = run_generated(p, database_attributes_sql, params, 2, NULL, e);
        if (r >= 0)
                r = run_generated(p, database_acls_sql, params, 2, NULL, e);
        if (r >= 0)
                r = pg_admin(p, database_acl_order_sql, 2, params, NULL, e);
        if (r >= 0)
                r = pg_admin(p, drop_settings_sql, 2, params, NULL, e);
        if (r >= 0)
                r = pg_admin(p, add_settings_sql, 2, params, NULL, e);
        if (r >= 0)
                r = run_generated(p, comments_sql, params, 2, NULL, e);
        if (r < 0) {
                mh_error_prefix(e, "cannot put back the databases' attributes");
                return r;
        }

        /* slots: two columns, the database (NULL: any) and the statement */
        {
                _cleanup_(PQclearp) PGresult *res = NULL;

                r = pg_admin(p, make_slots_sql, 1, params, &res, e);
                for (int i = 0; r >= 0 && i < PQntuples(res); i++) {
                        _cleanup_(PQclearp) PGresult *made = NULL;
                        const char *db = PQgetisnull(res, i, 0) ? NULL : PQgetvalue(res, i, 0);

                        r = mh_postgresql_exec(pg_host_of(p), db, PQgetvalue(res, i, 1), 0, NULL,
                                               &made, e);
                }
                if (r < 0) {
                        mh_error_prefix(e, "cannot make replication slots again");
                        return r;
                }
        }

        r = restore_system_settings(p, saved, e);
        if (r < 0)
                mh_error_prefix(e, "cannot put back ALTER SYSTEM's settings");
        return r;
}
