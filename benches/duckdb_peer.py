#!/usr/bin/env python3
"""The DuckDB side of benches/run: the same cohort counts and concept searches as `wb cdr bench`,
in SQL over the same Parquet files, timed in this process with DuckDB limited to the machine's
threads. Prints one JSON object.

    duckdb_peer.py CDR_DIR RUNS WB_BENCH_JSON   (the output of `wb cdr bench` on the same CDR:
                                                the searches to run, c2's concept, and the
                                                cohort definitions with their counts)

The cohort definitions (issue 11) are written in DuckDB SQL here, by `cohort_sql` below,
following docs/cohort-definition.md ("Evaluation") the way a person would write them by hand
for this CDR: each criterion reads only its domain's table (a condition from
condition_occurrence, a survey question or answer from observation), descendants come from
concept_ancestor, person facts are joined only when a criterion needs them. (The SQL that
`wb_cdr::cohort_sql` compiles is generic — one `events` relation over every table, joined with
person and visit — and much slower in DuckDB; timing that would flatter the index.) Only the
total's query is timed; the per-group counts are checked once, untimed. Every total and group
count must equal the engine's.
"""
import json
import resource
import sys
import time

import duckdb

SYNTHETIC_ID_BASE = 2_100_000_000
SURVEY_GOOD_HEALTH = SYNTHETIC_ID_BASE + 9 * 10_000_000 + 2 * 10_000 + 100 + 3

COHORT_RUNS = 10

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


# --- Cohort definitions in DuckDB SQL --------------------------------------------------------

DOMAIN_TABLES = {
    "CONDITION": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "DRUG": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "PROCEDURE": ("procedure_occurrence", "procedure_concept_id", "procedure_date"),
    "MEASUREMENT": ("measurement", "measurement_concept_id", "measurement_date"),
    "VISIT": ("visit_occurrence", "visit_concept_id", "visit_start_date"),
    "OBSERVATION": ("observation", "observation_concept_id", "observation_date"),
    "DEVICE": ("device_exposure", "device_concept_id", "device_exposure_start_date"),
}


def age_at(date, p="p"):
    """Whole years at `date` (docs: Evaluation, Persons)."""
    return (
        f"(year({date}) - {p}.year_of_birth - CASE WHEN month({date}) < COALESCE({p}.month_of_birth, 1) "
        f"OR (month({date}) = COALESCE({p}.month_of_birth, 1) AND day({date}) < COALESCE({p}.day_of_birth, 1)) "
        "THEN 1 ELSE 0 END)"
    )


def value_sql(v, col="value_as_number"):
    op = v["operator"]
    simple = {
        "EQUAL": "=",
        "NOT_EQUAL": "<>",
        "LESS_THAN": "<",
        "GREATER_THAN": ">",
        "LESS_THAN_OR_EQUAL_TO": "<=",
        "GREATER_THAN_OR_EQUAL_TO": ">=",
    }
    if op in simple:
        return f"{col} {simple[op]} {float(v['value'])!r}"
    if op == "BETWEEN":
        return f"{col} BETWEEN {float(v['min'])!r} AND {float(v['max'])!r}"
    if op == "IN":
        return f"value_as_concept_id IN ({', '.join(str(int(c)) for c in v['value_concept_ids'])})"
    raise ValueError(op)


def with_descendants(c):
    return f"SELECT {int(c)} UNION SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = {int(c)}"


def event_sql(c):
    """`(person_id, d)` of a criterion's events (mention: any), or None for a person criterion."""
    k = c["kind"]
    t = k["type"]
    if t == "DOMAIN":
        table, col, date = DOMAIN_TABLES[k["domain"]]
        concepts = with_descendants(k["concept_id"]) if k.get("include_descendants", True) else str(int(k["concept_id"]))
        where = [f"e.{col} IN ({concepts})"]
        if k.get("value"):
            where.append("e." + value_sql(k["value"]))
    elif t == "SURVEY":
        table, date = "observation", "observation_date"
        if k.get("answer_concept_id"):
            where = [f"e.value_as_concept_id = {int(k['answer_concept_id'])}"]
        elif k.get("question_concept_id"):
            where = [f"e.observation_concept_id = {int(k['question_concept_id'])}"]
        else:
            where = [
                "e.observation_concept_id IN (SELECT a.descendant_concept_id FROM concept_ancestor a "
                "JOIN concept q ON q.concept_id = a.descendant_concept_id "
                f"WHERE a.ancestor_concept_id = {int(k['module_concept_id'])} AND q.concept_class_id = 'Question')"
            ]
    else:
        return None
    m = c.get("modifiers", {})
    join = ""
    if "age_at_event" in m:
        join = " JOIN person p ON p.person_id = e.person_id"
        r = m["age_at_event"]
        if r.get("min") is not None:
            where.append(f"{age_at('e.' + date)} >= {int(r['min'])}")
        if r.get("max") is not None:
            where.append(f"{age_at('e.' + date)} <= {int(r['max'])}")
    if "event_date" in m:
        f = m["event_date"]
        if f["operator"] == "ON_OR_BEFORE":
            where.append(f"e.{date} <= DATE '{f['date']}'")
        elif f["operator"] == "ON_OR_AFTER":
            where.append(f"e.{date} >= DATE '{f['date']}'")
        else:
            where.append(f"e.{date} BETWEEN DATE '{f['start']}' AND DATE '{f['end']}'")
    if "during_visit_type" in m:
        raise ValueError("during_visit_type is not used by the benchmark")
    sql = f"SELECT e.person_id, e.{date} AS d FROM {table} e{join} WHERE " + " AND ".join(where)
    n = m.get("occurrences_at_least")
    if n:
        sql = (
            f"SELECT * FROM ({sql}) WHERE person_id IN "
            f"(SELECT person_id FROM ({sql}) GROUP BY person_id HAVING COUNT(DISTINCT d) >= {int(n)})"
        )
    return sql


def person_sql(c, today):
    """A criterion's persons."""
    k = c["kind"]
    t = k["type"]
    ids = lambda: ", ".join(str(int(x)) for x in k["concept_ids"])
    if t == "AGE":
        if k["basis"] != "AGE":
            raise ValueError("only Current Age is used by the benchmark")
        at = age_at(f"DATE '{today}'")
        return f"SELECT person_id FROM person p WHERE {at} BETWEEN {int(k['min'])} AND {int(k['max'])}"
    if t == "GENDER_IDENTITY":
        return f"SELECT person_id FROM person WHERE gender_concept_id IN ({ids()})"
    if t == "RACE":
        return f"SELECT person_id FROM person WHERE race_concept_id IN ({ids()})"
    if t == "ETHNICITY":
        return f"SELECT person_id FROM person WHERE ethnicity_concept_id IN ({ids()})"
    if t == "DECEASED":
        return "SELECT person_id FROM death"
    ev = event_sql(c)
    if ev is None:
        raise ValueError(t)
    return f"SELECT DISTINCT person_id FROM ({ev})"


def group_sql(g, today):
    if g.get("mention", "ANY_MENTION") != "ANY_MENTION":
        raise ValueError("mentions are not used by the benchmark")
    t = g.get("temporal")
    if not t:
        return " UNION ".join(f"({person_sql(c, today)})" for c in g["criteria"])
    kind = t["kind"]
    if kind["type"] != "WITHIN_X_DAYS_OF":
        raise ValueError(kind["type"])
    first = " UNION ALL ".join(f"({event_sql(c)})" for c in g["criteria"])
    second = " UNION ALL ".join(f"({event_sql(c)})" for c in t["second"])
    return (
        f"SELECT DISTINCT a.person_id FROM ({first}) a JOIN ({second}) b ON b.person_id = a.person_id "
        f"WHERE abs(b.d - a.d) <= {int(kind['days'])}"
    )


def total_sql(definition, today):
    inc = [g for g in definition["include"] if not g.get("suppressed")]
    exc = [g for g in definition.get("exclude", []) if not g.get("suppressed")]
    sql = " INTERSECT ".join(f"SELECT person_id FROM ({group_sql(g, today)})" for g in inc) or "SELECT person_id FROM person"
    sql = f"SELECT person_id FROM ({sql})"
    if exc:
        sql += " EXCEPT SELECT person_id FROM (" + " UNION ".join(f"({group_sql(g, today)})" for g in exc) + ")"
    return f"SELECT COUNT(*) FROM ({sql})"


def cohorts(con, wb, runs):
    out = {}
    today = wb["cohorts"]["today"]
    for d in wb["cohorts"]["definitions"]:
        definition = d["definition"]
        rows, t = timed(con, total_sql(definition, today), runs)
        groups = []
        for g in definition["include"] + definition.get("exclude", []):
            n = con.execute(f"SELECT COUNT(*) FROM ({group_sql(g, today)})").fetchone()[0]
            groups.append({"id": g["id"], "count": n})
        out[d["name"]] = {"total": rows[0][0], "groups": groups, "runs": runs, **t}
    return out


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
    tables = ["person", "death", "concept", "concept_ancestor", "concept_synonym"] + [t for t, _, _ in EVENT_TABLES]
    for t in tables:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{cdr}/{t}.parquet')")
    open_seconds = time.perf_counter() - t0
    out = {"duckdb": duckdb.__version__, "open_seconds": open_seconds, "counts": {}, "searches": {}}
    for name, sql in criteria(wb["c2_concept_id"]).items():
        rows, t = timed(con, sql, runs)
        out["counts"][name] = {"count": rows[0][0], **t}
    # The cohort builder's definitions (fewer runs: a DuckDB count takes up to seconds).
    out["cohorts"] = cohorts(con, wb, max(2, min(runs, COHORT_RUNS)))
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
