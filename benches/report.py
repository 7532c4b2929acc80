#!/usr/bin/env python3
"""Turns benches/run's JSON into benches/RESULTS.md, and fails if the engine and DuckDB disagree
on any count or search result.

    report.py RESULTS_DIR PERSONS...
"""
import json
import os
import platform
import sys


def load(d, n, what):
    with open(os.path.join(d, f"{n}.{what}.json")) as f:
        return json.load(f)


def ms(x):
    if x < 0.1:
        return f"{x * 1000:.1f} µs"
    return f"{x:.2f} ms" if x < 10 else f"{x:.0f} ms"


def mib(b):
    return f"{b / 2**20:,.0f} MiB"


def cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    d, scales = sys.argv[1], sys.argv[2:]
    out = []
    disagreements = []
    out.append("# CDR benchmark results\n")
    first = load(d, scales[0], "duckdb")
    out.append(
        f"Machine: {cpu()}, {os.cpu_count()} cores; DuckDB {first['duckdb']} (PyPI, 2 threads) "
        "over the same Parquet files in the same run. Made by `benches/run`; times are warm "
        "p50 / p95 of repeated runs unless marked.\n"
    )
    out.append("## Generation and index\n")
    out.append("| Persons | Events | Generate | Peak memory | On disk | Index build | Index size | DuckDB: every concept's rollup count |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in scales:
        g, duck = load(d, n, "generate"), load(d, n, "duckdb")
        out.append(
            f"| {int(n):,} | {g['events']:,} | {g['generate_seconds']:.1f} s | {mib(g['peak_rss_bytes'])} "
            f"| {mib(g['bytes'])} | {g['index_seconds']:.1f} s | {mib(g['index_bytes'])} "
            f"| {duck['rollup_counts_seconds']:.1f} s |"
        )
    out.append("\n## Cohort counts\n")
    out.append("| Persons | Criterion | Count | Workbench index p50 / p95 | DuckDB first | DuckDB p50 / p95 |")
    out.append("|---:|---|---:|---:|---:|---:|")
    for n in scales:
        wb, duck = load(d, n, "wb"), load(d, n, "duckdb")
        for name, w in wb["counts"].items():
            k = duck["counts"][name]
            if w["count"] != k["count"]:
                disagreements.append(f"{n} {name}: workbench {w['count']} vs DuckDB {k['count']}")
            out.append(
                f"| {int(n):,} | {name} | {w['count']:,} | {ms(w['p50_ms'])} / {ms(w['p95_ms'])} "
                f"| {ms(k['first_ms'])} | {ms(k['p50_ms'])} / {ms(k['p95_ms'])} |"
            )
    out.append("\n## Cohort builder: the full answer of a definition (issue 11)\n")
    out.append(
        "`Engine::counts`: the total, every group, every criterion, the attrition and the chart "
        "(what the builder page shows after an edit), for the definitions of "
        "crates/wb-cli/src/cohort_bench.rs (their JSON is in the bench's output), \"Current Age\" "
        "on a fixed date. DuckDB runs a hand-written SQL of each definition (benches/duckdb_peer.py) "
        "and is timed on the total alone, which favours DuckDB. *Ratio* is DuckDB p50 / index p50. "
        "A target is met when the index p95 is at most the issue's figure; the issue's figures are for "
        "1,000,000 persons (the 100,000 rows apply them for reference). "
        + f"Runs: {load(d, scales[0], 'wb').get('cohorts', {}).get('runs', '?')} warm runs after a first one "
        + f"for the index, {next(iter(load(d, scales[0], 'duckdb').get('cohorts', {}).values()), {}).get('runs', '?')} for DuckDB.\n"
    )
    out.append(
        "*Index p50 / p95* are with the engine's criteria cache emptied before each run (every "
        "criterion computed); *cached* is the same definition again with the cache kept (what the "
        "builder finds for the criteria an edit did not touch).\n"
    )
    out.append("| Persons | Definition | Count | Index first | Index p50 / p95 | Cached p50 / p95 | Target p95 | Met | DuckDB p50 | Ratio | ≥ 10× | Total and groups identical |")
    out.append("|---:|---|---:|---:|---:|---:|---:|:-:|---:|---:|:-:|:-:|")
    for n in scales:
        wb, duck = load(d, n, "wb"), load(d, n, "duckdb")
        for w in wb.get("cohorts", {}).get("definitions", []):
            k = duck.get("cohorts", {}).get(w["name"])
            if k is None:
                disagreements.append(f"{n} {w['name']}: not run in DuckDB")
                continue
            same = w["total"] == k["total"] and [g["count"] for g in w["groups"]] == [g["count"] for g in k["groups"]]
            if not same:
                disagreements.append(
                    f"{n} {w['name']}: workbench {w['total']} {[g['count'] for g in w['groups']]} "
                    f"vs DuckDB {k['total']} {[g['count'] for g in k['groups']]}"
                )
            ratio = k["p50_ms"] / max(w["p50_ms"], 1e-9)
            met = "yes" if w["p95_ms"] <= w["target_ms"] else "**no**"
            tenx = "yes" if ratio >= 10 else "**no**"
            out.append(
                f"| {int(n):,} | {w['name']}: {w['what']} | {w['total']:,} | {ms(w['first_ms'])} "
                f"| {ms(w['p50_ms'])} / {ms(w['p95_ms'])} "
                + (f"| {ms(w['warm_p50_ms'])} / {ms(w['warm_p95_ms'])} " if "warm_p50_ms" in w else "| ")
                + f"| {ms(w['target_ms'])} | {met} | {ms(k['p50_ms'])} "
                f"| {ratio:.1f}× | {tenx} | {'yes' if same else '**no**'} |"
            )
    out.append("\n## The count API over HTTP (issue 11)\n")
    out.append(
        "benches/http_count.py: the release `wb serve` on loopback with the CDR registered; a researcher "
        "signed up through the pages (access given with `wb admin user bypass`) creates a workspace and "
        "POSTs `/api/v1/workspaces/{ns}/cohorts/count` for each edit of a definition grown criterion "
        "by criterion up to the 10 × 5 definition (every answer: all counts and the chart). Target p95 "
        "≤ 300 ms; resident memory of the server with the CDR open ≤ 2 GiB.\n"
    )
    out.append(
        "*First pass* is the first pass over the edits alone (each edit adds a criterion the server "
        "has not counted; the others come from its criteria cache); *p50 / p95* are over every pass; the target is met when both p95 figures are.\n"
    )
    out.append("| Persons | Edits × passes | First count (opens the CDR) | First pass p50 / p95 | p50 | p95 | Met | Server RSS after the counts / peak | ≤ 2 GiB |")
    out.append("|---:|---:|---:|---:|---:|---:|:-:|---:|:-:|")
    for n in scales:
        try:
            h = load(d, n, "http")
        except OSError:
            continue
        out.append(
            f"| {int(n):,} | {h['steps']} × {h['runs']} | {ms(h['first_count_ms'])} "
            + (f"| {ms(h['first_pass_p50_ms'])} / {ms(h['first_pass_p95_ms'])} " if "first_pass_p50_ms" in h else "| ")
            + f"| {ms(h['p50_ms'])} "
            f"| {ms(h['p95_ms'])} | {'yes' if max(h['p95_ms'], h.get('first_pass_p95_ms', 0)) <= 300 else '**no**'} "
            f"| {mib(h['rss_bytes'])} / {mib(h['hwm_bytes'])} | {'yes' if h['hwm_bytes'] <= 2 * 2**30 else '**no**'} |"
        )
    out.append("\n## Concept search (top 50, ranked by participant count)\n")
    out.append("| Persons | Query | Workbench p50 / p95 | DuckDB p50 / p95 |")
    out.append("|---:|---|---:|---:|")
    for n in scales:
        wb, duck = load(d, n, "wb"), load(d, n, "duckdb")
        for key, w in wb["searches"].items():
            k = duck["searches"][key]
            if w["ids"] != k["ids"]:
                disagreements.append(f"{n} search {key!r}: results differ")
            text, _, domain = key.partition("|")
            label = f"`{text}`" + (f" in {domain}" if domain else "")
            out.append(f"| {int(n):,} | {label} | {ms(w['p50_ms'])} / {ms(w['p95_ms'])} | {ms(k['p50_ms'])} / {ms(k['p95_ms'])} |")
    out.append("\n## Start\n")
    out.append("| Persons | Workbench: load vocabulary + index | its peak memory | DuckDB: open views | Cohort engine: open person facts | its RSS | RSS / peak after every cohort count |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|")
    for n in scales:
        wb, duck = load(d, n, "wb"), load(d, n, "duckdb")
        extra = (
            f" {wb['engine_open_seconds']:.2f} s | {mib(wb['engine_rss_bytes'])} | {mib(wb['cohorts_rss_bytes'])} / {mib(wb['cohorts_peak_rss_bytes'])} |"
            if "engine_open_seconds" in wb
            else " | | |"
        )
        out.append(f"| {int(n):,} | {wb['load_seconds']:.2f} s | {mib(wb['peak_rss_bytes'])} | {duck['open_seconds']:.3f} s |{extra}")
    out.append(
        "\nEvery count (cohort totals and group counts included) and every search result above was identical in both engines."
        if not disagreements
        else "\n**Disagreements:**\n" + "\n".join(f"- {x}" for x in disagreements)
    )
    print("\n".join(out))
    if disagreements:
        print("\n".join(disagreements), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
