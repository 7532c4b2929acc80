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
    out.append("| Persons | Workbench: load vocabulary + index | its peak memory | DuckDB: open views |")
    out.append("|---:|---:|---:|---:|")
    for n in scales:
        wb, duck = load(d, n, "wb"), load(d, n, "duckdb")
        out.append(f"| {int(n):,} | {wb['load_seconds']:.2f} s | {mib(wb['peak_rss_bytes'])} | {duck['open_seconds']:.3f} s |")
    out.append(
        "\nEvery count and every search result above was identical in both engines."
        if not disagreements
        else "\n**Disagreements:**\n" + "\n".join(f"- {x}" for x in disagreements)
    )
    print("\n".join(out))
    if disagreements:
        print("\n".join(disagreements), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
