//! The cohort-builder part of `wb cdr bench` (issue 11): named cohort definitions chosen from
//! the CDR's data, each answered in full by [`Engine::counts`] (total, every group, every
//! criterion, the attrition and the chart: what the builder page shows after an edit), timed
//! over warm runs. Each definition's JSON, its counts and the SQL it compiles to go into the
//! bench's JSON, so that benches/duckdb_peer.py can run the same definitions in DuckDB and
//! require identical counts.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use serde_json::{Value, json};
use wb_cdr::cohort::Engine;
use wb_cdr::cohort_sql::{CdrTables, compile};
use wb_cdr::events::{
    CHRONIC_KIDNEY_DISEASE, DEPRESSIVE_DISORDER, ESSENTIAL_HYPERTENSION, HBA1C, INSULIN, METFORMIN,
    PTSD, TYPE_2_DIABETES,
};
use wb_cdr::search::Cdr;
use wb_cdr::vocabulary::{DOMAIN_ID_SPAN, SYNTHETIC_ID_BASE, survey_module_id, survey_question_id};
use wb_domain::cohort::CohortDefinition;

/// "Current Age" is taken on this date, so counts are reproducible (the generated CDR's data
/// runs to July 1st of its cutoff year, 2025 by default).
pub const TODAY: &str = "2025-07-01";

/// One benchmark definition: a name, the target for its p95 and the definition.
pub struct BenchCohort {
    pub name: &'static str,
    pub what: &'static str,
    pub target_ms: f64,
    pub definition: CohortDefinition,
}

/// The root of a generated domain (`Domain::ALL` order: Condition, Drug, Measurement,
/// Procedure, Observation, Device).
fn root(domain: usize) -> i64 {
    SYNTHETIC_ID_BASE + domain as i64 * DOMAIN_ID_SPAN
}

/// The `k` concepts below `root` with the most participants, breadth first (children by
/// participants, then their children …), skipping `skip`.
fn top(cdr: &Cdr, root: i64, k: usize, skip: &[i64]) -> Vec<i64> {
    let mut out = Vec::new();
    let mut level = vec![root];
    while out.len() < k && !level.is_empty() {
        let mut next = Vec::new();
        for id in &level {
            for h in cdr.children(*id) {
                let c = h.concept.concept_id;
                if h.persons > 0 && !skip.contains(&c) && out.len() < k {
                    out.push(c);
                }
                next.push(c);
            }
        }
        level = next;
    }
    out
}

fn domain(id: &str, domain: &str, concept_id: i64) -> Value {
    json!({"id": id, "kind": {"type": "DOMAIN", "domain": domain, "concept_id": concept_id}})
}

fn with(mut criterion: Value, modifiers: Value) -> Value {
    criterion["modifiers"] = modifiers;
    criterion
}

fn group(id: &str, criteria: Vec<Value>) -> Value {
    json!({"id": id, "criteria": criteria})
}

fn definition(include: Vec<Value>, exclude: Vec<Value>) -> Result<CohortDefinition> {
    serde_json::from_value(json!({"include": include, "exclude": exclude}))
        .context("a benchmark definition does not parse")
}

/// The largest subtree of conditions: the condition root's child with the most participants
/// (the concept of the bench's c2 count).
pub fn largest_condition_subtree(cdr: &Cdr) -> i64 {
    cdr.children(SYNTHETIC_ID_BASE)
        .first()
        .map_or(0, |h| h.concept.concept_id)
}

/// The benchmark's definitions, from the list: (a) a concept with descendants; (b)
/// demographics AND a condition AND NOT a drug; (c) each modifier on its own; (d) a temporal
/// "on or within N days of"; (e) ten groups of five criteria with one temporal group.
pub fn definitions(cdr: &Cdr) -> Result<Vec<BenchCohort>> {
    let subtree = largest_condition_subtree(cdr);
    let t2d = || domain("c-t2d", "CONDITION", TYPE_2_DIABETES);
    let hba1c = |id: &str, value: Option<Value>| {
        let mut c = domain(id, "MEASUREMENT", HBA1C);
        if let Some(v) = value {
            c["kind"]["value"] = v;
        }
        c
    };
    let one = |c: Value| definition(vec![group("g1", vec![c])], vec![]);
    let mut out = vec![
        BenchCohort {
            name: "a_concept_with_descendants",
            what: "The largest condition subtree, with descendants",
            target_ms: 5.0,
            definition: one(domain("c1", "CONDITION", subtree))?,
        },
        BenchCohort {
            name: "b_demographics_condition_not_drug",
            what: "Female AND age 18–65 AND type 2 diabetes AND NOT metformin",
            target_ms: 10.0,
            definition: definition(
                vec![
                    group(
                        "g-female",
                        vec![json!({"id": "c-female",
                            "kind": {"type": "GENDER_IDENTITY", "concept_ids": [8532]}})],
                    ),
                    group(
                        "g-age",
                        vec![json!({"id": "c-age",
                            "kind": {"type": "AGE", "basis": "AGE", "min": 18, "max": 65}})],
                    ),
                    group("g-t2d", vec![t2d()]),
                ],
                vec![group(
                    "g-metformin",
                    vec![domain("c-metformin", "DRUG", METFORMIN)],
                )],
            )?,
        },
        BenchCohort {
            name: "c1_age_at_event",
            what: "Type 2 diabetes at age 50 or over (Age At Event)",
            target_ms: 100.0,
            definition: one(with(t2d(), json!({"age_at_event": {"min": 50}})))?,
        },
        BenchCohort {
            name: "c2_occurrence_dates",
            what: "Type 2 diabetes on 3 or more dates (Number Of Occurrence Dates)",
            target_ms: 100.0,
            definition: one(with(t2d(), json!({"occurrences_at_least": 3})))?,
        },
        BenchCohort {
            name: "c3_value_range",
            what: "HbA1c between 6.5 and 9 % (a measurement value range)",
            target_ms: 100.0,
            definition: one(hba1c(
                "c-hba1c",
                Some(json!({"operator": "BETWEEN", "min": 6.5, "max": 9.0})),
            ))?,
        },
        BenchCohort {
            name: "c4_event_date",
            what: "Type 2 diabetes between 2018-01-01 and 2022-12-31 (Event Date)",
            target_ms: 100.0,
            definition: one(with(
                t2d(),
                json!({"event_date":
                    {"operator": "BETWEEN", "start": "2018-01-01", "end": "2022-12-31"}}),
            ))?,
        },
        BenchCohort {
            name: "c5_occurrence_dates_largest_subtree",
            what: "The largest condition subtree on 2 or more dates (a modifier on the biggest \
                   concept: stress case)",
            target_ms: 100.0,
            definition: one(with(
                domain("c1", "CONDITION", subtree),
                json!({"occurrences_at_least": 2}),
            ))?,
        },
        BenchCohort {
            name: "d_temporal_within_days",
            what: "HbA1c of 6.5 % or more on or within 90 days of type 2 diabetes",
            target_ms: 250.0,
            definition: definition(
                vec![json!({
                    "id": "g-temporal",
                    "criteria": [hba1c("c-hba1c",
                        Some(json!({"operator": "GREATER_THAN_OR_EQUAL_TO", "value": 6.5})))],
                    "temporal": {"kind": {"type": "WITHIN_X_DAYS_OF", "days": 90},
                                 "second": [t2d()]}
                })],
                vec![],
            )?,
        },
    ];
    out.push(BenchCohort {
        name: "e_10_groups_5_criteria",
        what: "10 groups × 5 criteria (8 include, 2 exclude; modifiers; one temporal group)",
        target_ms: 500.0,
        definition: ten_by_five(cdr)?,
    });
    Ok(out)
}

/// Ten groups of five criteria: include conditions, drugs, measurements, procedures,
/// observations, surveys, ages and one temporal group; exclude conditions (or deceased) and
/// drugs (or PTSD when young).
fn ten_by_five(cdr: &Cdr) -> Result<CohortDefinition> {
    let named = [
        TYPE_2_DIABETES,
        ESSENTIAL_HYPERTENSION,
        CHRONIC_KIDNEY_DISEASE,
        DEPRESSIVE_DISORDER,
        PTSD,
        METFORMIN,
        INSULIN,
        HBA1C,
    ];
    let n = std::cell::Cell::new(0);
    let next_id = |prefix: &str| {
        n.set(n.get() + 1);
        format!("{prefix}{}", n.get())
    };
    let of = |prefix: &str, dom: &str, concepts: &[i64]| -> Vec<Value> {
        concepts
            .iter()
            .map(|c| domain(&next_id(prefix), dom, *c))
            .collect()
    };
    let need = |domain: usize, k: usize, what: &str| -> Result<Vec<i64>> {
        let v = top(cdr, root(domain), k, &named);
        if v.len() < k {
            bail!("the CDR has fewer than {k} {what} concepts with participants");
        }
        Ok(v)
    };
    let conditions = need(0, 5, "condition")?;
    let drugs = need(1, 5, "drug")?;
    let measurements = need(2, 4, "measurement")?;
    let procedures = need(3, 5, "procedure")?;
    let observations = need(4, 5, "observation")?;
    let late_conditions = need(0, 9, "condition")?.split_off(5);
    let late_drugs = need(1, 9, "drug")?.split_off(5);

    let mut g_conditions = of("c", "CONDITION", &conditions);
    g_conditions[0] = with(g_conditions[0].clone(), json!({"occurrences_at_least": 2}));
    let mut g_drugs = of("c", "DRUG", &drugs);
    g_drugs[1] = with(
        g_drugs[1].clone(),
        json!({"event_date": {"operator": "ON_OR_AFTER", "date": "2015-01-01"}}),
    );
    let mut g_measurements = vec![{
        let mut c = domain(&next_id("c"), "MEASUREMENT", HBA1C);
        c["kind"]["value"] = json!({"operator": "GREATER_THAN_OR_EQUAL_TO", "value": 6.5});
        c
    }];
    g_measurements.extend(of("c", "MEASUREMENT", &measurements));
    let g_procedures = of("c", "PROCEDURE", &procedures);
    let mut g_observations = of("c", "OBSERVATION", &observations);
    g_observations[2] = with(
        g_observations[2].clone(),
        json!({"age_at_event": {"min": 30}}),
    );
    let ages = [(18, 30), (31, 45), (46, 60), (61, 75), (76, 120)];
    let g_ages: Vec<Value> = ages
        .iter()
        .map(|(lo, hi)| {
            json!({"id": next_id("c"), "kind": {"type": "AGE", "basis": "AGE", "min": lo, "max": hi}})
        })
        .collect();
    // Surveys: The Basics' insurance question, Lifestyle, Overall Health's two questions.
    let g_surveys = vec![
        json!({"id": next_id("c"), "kind": {"type": "SURVEY",
            "module_concept_id": survey_module_id(0),
            "question_concept_id": survey_question_id(0, 4)}}),
        json!({"id": next_id("c"), "kind": {"type": "SURVEY",
            "module_concept_id": survey_module_id(1)}}),
        json!({"id": next_id("c"), "kind": {"type": "SURVEY",
            "module_concept_id": survey_module_id(2),
            "question_concept_id": survey_question_id(2, 0)}}),
        json!({"id": next_id("c"), "kind": {"type": "SURVEY",
            "module_concept_id": survey_module_id(2),
            "question_concept_id": survey_question_id(2, 1)}}),
        json!({"id": next_id("c"), "kind": {"type": "SURVEY",
            "module_concept_id": survey_module_id(1),
            "question_concept_id": survey_question_id(1, 0)}}),
    ];
    // The temporal group: one of three conditions on or within a year of metformin or insulin.
    let mut temporal_first = of(
        "c",
        "CONDITION",
        &[
            TYPE_2_DIABETES,
            ESSENTIAL_HYPERTENSION,
            CHRONIC_KIDNEY_DISEASE,
        ],
    );
    temporal_first[1] = with(
        temporal_first[1].clone(),
        json!({"age_at_event": {"min": 40}}),
    );
    let temporal_second = of("c", "DRUG", &[METFORMIN, INSULIN]);
    let g_temporal = json!({
        "id": "g-temporal",
        "criteria": temporal_first,
        "temporal": {"kind": {"type": "WITHIN_X_DAYS_OF", "days": 365}, "second": temporal_second}
    });
    let mut x_conditions = of("c", "CONDITION", &late_conditions);
    x_conditions[0] = with(
        x_conditions[0].clone(),
        json!({"event_date": {"operator": "BETWEEN", "start": "2020-01-01", "end": "2020-12-31"}}),
    );
    x_conditions.push(json!({"id": next_id("c"), "kind": {"type": "DECEASED"}}));
    let mut x_drugs = of("c", "DRUG", &late_drugs);
    x_drugs.push(with(
        domain(&next_id("c"), "CONDITION", PTSD),
        json!({"age_at_event": {"max": 25}}),
    ));
    definition(
        vec![
            group("g-conditions", g_conditions),
            group("g-drugs", g_drugs),
            group("g-measurements", g_measurements),
            group("g-procedures", g_procedures),
            group("g-observations", g_observations),
            group("g-surveys", g_surveys),
            group("g-ages", g_ages),
            g_temporal,
        ],
        vec![
            group("x-conditions", x_conditions),
            group("x-drugs", x_drugs),
        ],
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Counts every definition `runs` times after one first run, each run with the engine's
/// criteria cache emptied first (every criterion computed: the p50 / p95), then `runs` times
/// with it kept (what an edit of another criterion finds: the warm figures); returns the JSON
/// of `cohorts` in the bench output.
pub fn bench(engine: &Engine, dir: &std::path::Path, runs: usize) -> Result<Value> {
    let today = NaiveDate::parse_from_str(TODAY, "%Y-%m-%d").expect("a date");
    let tables = CdrTables::in_dir(dir);
    let mut out = Vec::new();
    for b in definitions(engine.cdr())? {
        if let Err(errors) = wb_domain::cohort::validate(&b.definition) {
            bail!("benchmark definition {} is invalid: {errors:?}", b.name);
        }
        let errors = engine.check(&b.definition);
        if !errors.is_empty() {
            bail!(
                "benchmark definition {} does not fit the CDR: {errors:?}",
                b.name
            );
        }
        let t = Instant::now();
        let mut counts = engine.counts(&b.definition, today)?;
        let first_ms = t.elapsed().as_secs_f64() * 1e3;
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            engine.forget_criteria();
            let t = Instant::now();
            let again = engine.counts(&b.definition, today)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            if again != counts {
                bail!("{}: two runs gave different counts", b.name);
            }
            counts = again;
        }
        times.sort_by(f64::total_cmp);
        let mut warm = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            let again = engine.counts(&b.definition, today)?;
            warm.push(t.elapsed().as_secs_f64() * 1e3);
            if again != counts {
                bail!("{}: a cached run gave different counts", b.name);
            }
        }
        warm.sort_by(f64::total_cmp);
        let sql = compile(&b.definition, today, &tables);
        let count_list = |v: &[wb_domain::analysis::Count]| -> Value {
            v.iter()
                .map(|c| json!({"id": c.id, "count": c.count}))
                .collect()
        };
        out.push(json!({
            "name": b.name,
            "what": b.what,
            "target_ms": b.target_ms,
            "definition": serde_json::to_value(&b.definition)?,
            "total": counts.total,
            "groups": count_list(&counts.groups),
            "criteria": count_list(&counts.criteria),
            "attrition": count_list(&counts.attrition),
            "first_ms": first_ms,
            "p50_ms": percentile(&times, 0.5),
            "p95_ms": percentile(&times, 0.95),
            "max_ms": times[times.len() - 1],
            "warm_p50_ms": percentile(&warm, 0.5),
            "warm_p95_ms": percentile(&warm, 0.95),
            "sql": {
                "total": sql.total,
                "groups": sql.groups.iter().map(|(id, q)| json!({"id": id, "sql": q})).collect::<Vec<_>>(),
            },
        }));
    }
    Ok(json!({ "today": TODAY, "runs": runs, "definitions": out }))
}
