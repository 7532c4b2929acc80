#!/usr/bin/env python3
"""The DuckDB side of benches/run: the same cohort counts and concept searches as `wb cdr bench`,
in SQL over the same Parquet files, timed in this process with DuckDB limited to the machine's
threads. Prints one JSON object.

    duckdb_peer.py CDR_DIR RUNS WB_BENCH_JSON   (the output of `wb cdr bench` on the same CDR:
                                                the searches to run and c2's concept)
"""
import json
import resource
import sys
import time

import duckdb

SYNTHETIC_ID_BASE = 2_100_000_000
SURVEY_GOOD_HEALTH = SYNTHETIC_ID_BASE + 9 * 10_000_000 + 2 * 10_000 + 100 + 3

EVENT_TABLES = [
    ("visit_occurrence", "visit_concept_id", None),
    ("condition_occurrence", "condition_concept_id", None),
    ("drug_exposure", "drug_concept_id", None),
    ("procedure_occurrence", "procedure_concept_id", None),
    ("measurement", "measurement_concept_id", None),
    ("observation", "observation_concept_id", "value_as_concept_id"),
    ("device_exposure", "device_concept_id", None),
]


def descendants(concept_id):
    return f"SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = {concept_id}"


def condition_persons(concept_id):
    return (
        "SELECT person_id FROM condition_occurrence "
        f"WHERE condition_concept_id IN ({descendants(concept_id)})"
    )


# Must mean exactly what CRITERIA in crates/wb-cli/src/cdr.rs means.
def criteria(c2_concept_id):
    return {
        "c1_type_2_diabetes": f"SELECT COUNT(DISTINCT person_id) FROM ({condition_persons(201826)})",
        "c2_largest_condition_subtree": f"SELECT COUNT(DISTINCT person_id) FROM ({condition_persons(c2_concept_id)})",
        "c3_all_conditions": f"SELECT COUNT(DISTINCT person_id) FROM ({condition_persons(SYNTHETIC_ID_BASE)})",
        "c5_female_t2dm_not_metformin": (
            "SELECT COUNT(*) FROM person WHERE gender_concept_id = 8532 "
            f"AND person_id IN ({condition_persons(201826)}) "
            "AND person_id NOT IN (SELECT person_id FROM drug_exposure "
            f"WHERE drug_concept_id IN ({descendants(1503297)}))"
        ),
        "c9_survey_good_health": (
            "SELECT COUNT(DISTINCT person_id) FROM observation "
            f"WHERE value_as_concept_id = {SURVEY_GOOD_HEALTH}"
        ),
    }


def events_sql():
    parts = []
    for table, concept, value in EVENT_TABLES:
        parts.append(f"SELECT person_id, {concept} AS concept_id FROM {table}")
        if value:
            parts.append(f"SELECT person_id, {value} AS concept_id FROM {table} WHERE {value} IS NOT NULL")
    for c in ("gender_concept_id", "race_concept_id", "ethnicity_concept_id"):
        parts.append(f"SELECT person_id, {c} AS concept_id FROM person WHERE {c} <> 0")
    return " UNION ALL ".join(parts)


def search_sql(text, domain):
    # Mirrors wb_cdr::search::reference_sql.
    text = text.strip().lower().replace("'", "''")
    tokens = text.split()

    def all_in(col):
        return " AND ".join(f"strpos(lower({col}), '{t}') > 0" for t in tokens)

    domain_filter = f" AND lower(c.domain_id) = lower('{domain}')" if domain else ""
    return (
        "SELECT c.concept_id FROM concept c LEFT JOIN counts k ON k.concept_id = c.concept_id "
        f"WHERE (lower(c.concept_code) = '{text}' OR ({all_in('c.concept_name')}) "
        f"OR c.concept_id IN (SELECT concept_id FROM concept_synonym s WHERE {all_in('s.concept_synonym_name')}))"
        f"{domain_filter} "
        f"ORDER BY CASE WHEN lower(c.concept_code) = '{text}' THEN 0 ELSE 1 END, COALESCE(k.n, 0) DESC, c.concept_id LIMIT 50"
    )


def timed(con, sql, runs):
    times = []
    result = None
    for _ in range(runs):
        t = time.perf_counter()
        result = con.execute(sql).fetchall()
        times.append((time.perf_counter() - t) * 1e3)
    first = times[0]
    warm = sorted(times[1:] or times)
    pick = lambda p: warm[round((len(warm) - 1) * p)]
    return result, {"first_ms": first, "p50_ms": pick(0.5), "p95_ms": pick(0.95)}


def main():
    cdr, runs = sys.argv[1], int(sys.argv[2])
    with open(sys.argv[3]) as f:
        wb = json.load(f)
    searches = list(wb["searches"])
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    tables = ["person", "concept", "concept_ancestor", "concept_synonym"] + [t for t, _, _ in EVENT_TABLES]
    for t in tables:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{cdr}/{t}.parquet')")
    open_seconds = time.perf_counter() - t0
    out = {"duckdb": duckdb.__version__, "open_seconds": open_seconds, "counts": {}, "searches": {}}
    for name, sql in criteria(wb["c2_concept_id"]).items():
        rows, t = timed(con, sql, runs)
        out["counts"][name] = {"count": rows[0][0], **t}
    # Every concept's rollup person count: what our index build precomputes.
    t = time.perf_counter()
    con.execute(
        f"CREATE TABLE counts AS WITH ev AS ({events_sql()}) "
        "SELECT a.ancestor_concept_id AS concept_id, COUNT(DISTINCT ev.person_id) AS n "
        "FROM ev JOIN concept_ancestor a ON a.descendant_concept_id = ev.concept_id GROUP BY 1"
    )
    out["rollup_counts_seconds"] = time.perf_counter() - t
    for key in searches:
        text, _, domain = key.partition("|")
        rows, tm = timed(con, search_sql(text, domain or None), runs)
        out["searches"][key] = {"ids": [r[0] for r in rows], **tm}
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
