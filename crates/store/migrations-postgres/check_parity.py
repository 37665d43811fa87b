#!/usr/bin/env python3
"""Schema parity between the SQLite migrations and the PostgreSQL ones.

Applies ../migrations/*.sql to a fresh in-memory SQLite database, reads the final schema of
an already-migrated PostgreSQL database through `psql`, and prints every difference:
tables, columns, column types (by SQLite affinity), NOT NULL, defaults, primary keys,
unique constraints, foreign keys (with ON DELETE) and index names/columns.
Exits 0 when the schemas agree, 1 on any difference, 2 on a usage or tool error.

    python3 check_parity.py postgresql://postgres@127.0.0.1:55499/trainyard

(the URL may also come from $PG_URL). CHECK constraints are not compared.
"""

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SQLITE_MIGRATIONS = HERE.parent / "migrations"
IGNORED_TABLES = {"_sqlx_migrations", "sqlite_sequence"}

# SQLite INTEGER columns that are BOOLEAN on PostgreSQL because the Rust code binds a `bool`.
BOOLEAN_COLUMNS = {("audit_records", "denied"), ("registry_repositories", "immutable_tags")}

# SQLite declared type -> the PostgreSQL type it must become.
TYPE_MAP = {"INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea", "REAL": "double precision"}

ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def sqlite_schema():
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA foreign_keys = ON")
    for path in sorted(SQLITE_MIGRATIONS.glob("*.sql")):
        db.executescript(path.read_text())
    tables = [
        r[0]
        for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        if r[0] not in IGNORED_TABLES
    ]
    schema = {}
    for table in tables:
        info = {"columns": {}, "pk": (), "unique": set(), "fk": set(), "indexes": {}}
        pk = []
        for _cid, name, decl, notnull, default, pkpos in db.execute(f"PRAGMA table_info('{table}')"):
            decl = decl.upper()
            pg_type = "boolean" if (table, name) in BOOLEAN_COLUMNS else TYPE_MAP.get(decl, f"?{decl}")
            rowid_alias = decl == "INTEGER" and pkpos == 1 and _single_pk(db, table)
            info["columns"][name] = {
                "type": pg_type,
                # A primary key column is NOT NULL on PostgreSQL (SQLite only enforces it for
                # INTEGER PRIMARY KEY, but every key here is also written non-null).
                "notnull": bool(notnull) or pkpos > 0,
                "default": "identity" if rowid_alias else _norm_default(default),
            }
            if pkpos:
                pk.append((pkpos, name))
        info["pk"] = tuple(n for _, n in sorted(pk))
        for _seq, name, unique, origin, partial in db.execute(f"PRAGMA index_list('{table}')"):
            cols = tuple(r[2] for r in db.execute(f"PRAGMA index_info('{name}')"))
            if origin == "u":
                info["unique"].add(cols)
            elif origin == "c":
                info["indexes"][name] = (cols, bool(unique), bool(partial))
        fks = {}
        for fid, _seq, ref, frm, to, _upd, on_delete, _match in db.execute(f"PRAGMA foreign_key_list('{table}')"):
            fks.setdefault(fid, [ref, [], [], on_delete])
            fks[fid][1].append(frm)
            fks[fid][2].append(to)
        for ref, frm, to, on_delete in fks.values():
            info["fk"].add((tuple(frm), ref, tuple(to), on_delete))
        schema[table] = info
    return schema


def _single_pk(db, table):
    return sum(1 for r in db.execute(f"PRAGMA table_info('{table}')") if r[5]) == 1


def _norm_default(value):
    if value is None:
        return None
    value = str(value).strip()
    while value.startswith("(") and value.endswith(")"):
        value = value[1:-1].strip()
    value = re.sub(r"::[a-z ]+$", "", value)  # PostgreSQL's '...'::text
    return {"false": "0", "true": "1", "FALSE": "0", "TRUE": "1"}.get(value, value)


def psql(url, sql):
    out = subprocess.run(
        ["psql", url, "-X", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def pg_schema(url):
    where = "n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> '_sqlx_migrations'"
    schema = {}
    for (table,) in psql(url, f"SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {where}"):
        schema[table] = {"columns": {}, "pk": (), "unique": set(), "fk": set(), "indexes": {}}
    for table, name, typ, notnull, default, identity in psql(
        url,
        f"""SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   COALESCE(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE {where} AND a.attnum > 0 AND NOT a.attisdropped""",
    ):
        schema[table]["columns"][name] = {
            "type": typ,
            "notnull": notnull == "t",
            "default": "identity" if identity in ("a", "d") else _norm_default(default or None),
        }
    for table, kind, cols, ref, refcols, on_delete in psql(
        url,
        f"""SELECT c.relname, k.contype,
                   (SELECT string_agg(a.attname, ',' ORDER BY u.i) FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
                      JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n),
                   COALESCE(r.relname, ''),
                   COALESCE((SELECT string_agg(a.attname, ',' ORDER BY u.i) FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
                      JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n), ''),
                   k.confdeltype
            FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_class r ON r.oid = k.confrelid
            WHERE {where} AND k.contype IN ('p', 'u', 'f')""",
    ):
        cols = tuple(cols.split(","))
        if kind == "p":
            schema[table]["pk"] = cols
        elif kind == "u":
            schema[table]["unique"].add(cols)
        else:
            schema[table]["fk"].add((cols, ref, tuple(refcols.split(",")), ON_DELETE[on_delete]))
    for table, name, cols, unique, partial in psql(
        url,
        f"""SELECT c.relname, i.relname,
                   (SELECT string_agg(a.attname, ',' ORDER BY u.i) FROM unnest(x.indkey::int2[]) WITH ORDINALITY u(n, i)
                      JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.n),
                   x.indisunique, x.indpred IS NOT NULL
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE {where} AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)""",
    ):
        schema[table]["indexes"][name] = (tuple(cols.split(",")), unique == "t", partial == "t")
    return schema


def compare(lite, pg):
    problems = []
    for table in sorted(set(lite) - set(pg)):
        problems.append(f"table {table}: in SQLite, missing on PostgreSQL")
    for table in sorted(set(pg) - set(lite)):
        problems.append(f"table {table}: on PostgreSQL only")
    for table in sorted(set(lite) & set(pg)):
        a, b = lite[table], pg[table]
        for col in sorted(set(a["columns"]) - set(b["columns"])):
            problems.append(f"column {table}.{col}: in SQLite, missing on PostgreSQL")
        for col in sorted(set(b["columns"]) - set(a["columns"])):
            problems.append(f"column {table}.{col}: on PostgreSQL only")
        for col in sorted(set(a["columns"]) & set(b["columns"])):
            for prop in ("type", "notnull", "default"):
                want, got = a["columns"][col][prop], b["columns"][col][prop]
                if want != got:
                    problems.append(f"column {table}.{col}: {prop} should be {want!r}, PostgreSQL has {got!r}")
        if a["pk"] != b["pk"]:
            problems.append(f"table {table}: primary key {a['pk']} on SQLite, {b['pk']} on PostgreSQL")
        for kind in ("unique", "fk"):
            for item in sorted(a[kind] - b[kind]):
                problems.append(f"table {table}: {kind} {item} missing on PostgreSQL")
            for item in sorted(b[kind] - a[kind]):
                problems.append(f"table {table}: {kind} {item} on PostgreSQL only")
        for name in sorted(set(a["indexes"]) | set(b["indexes"])):
            want, got = a["indexes"].get(name), b["indexes"].get(name)
            if want != got:
                problems.append(f"index {table}.{name}: SQLite {want}, PostgreSQL {got}")
    return problems


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PG_URL")
    if not url:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        lite = sqlite_schema()
        pg = pg_schema(url)
    except subprocess.CalledProcessError as e:
        print(f"psql failed: {e.stderr.strip()}", file=sys.stderr)
        return 2
    problems = compare(lite, pg)
    columns = sum(len(t["columns"]) for t in lite.values())
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} difference(s)")
        return 1
    print(f"parity ok: {len(lite)} tables, {columns} columns, keys, foreign keys and indexes agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
