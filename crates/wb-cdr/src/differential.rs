//! The differential test of the two cohort engines: random definitions (every criterion kind,
//! modifiers, mentions, temporal groups, exclusions, suppressed groups) over the test CDR, each
//! answered by the index engine ([`crate::cohort`]) and by its SQL in DataFusion
//! ([`crate::cohort_sql`]); the person sets of the total, of every group and of every
//! criterion must be equal. Failures are shrunk by proptest to a small definition.
//!
//! `WB_DIFFERENTIAL_CASES` sets the number of cases (default 64). The SQL side dominates: each
//! case's queries run as one `UNION ALL` in one partition, and still a debug build spends about
//! 70 ms per query (a case has 5 to 20), so a debug run takes one to three seconds a case. The
//! test command (`scripts/test`) therefore skips it in the debug run and runs it in release mode
//! with 2,000 cases: `WB_DIFFERENTIAL_CASES=2000 cargo test --release -p wb-cdr --lib
//! differential`.

use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use wb_domain::cohort::*;

use crate::cohort::tests::{CDR, ENGINE, today};

/// Concepts to draw from, taken from the test CDR so most criteria match someone.
struct Pools {
    by_domain: Vec<(Domain, Vec<i64>)>,
    measurement_values: Vec<i64>,
    visits: Vec<i64>,
    races: Vec<i64>,
    ethnicities: Vec<i64>,
    genders: Vec<i64>,
    sexes: Vec<i64>,
    /// (module, question, answers)
    surveys: Vec<(i64, i64, Vec<i64>)>,
}

fn pools() -> Pools {
    let cdr = ENGINE.cdr();
    let ix = &cdr.index;
    let occurring = |domain: &str, limit: usize| -> Vec<i64> {
        let mut v: Vec<(u64, i64)> = cdr
            .all_concepts()
            .filter(|c| c.domain == domain && c.class != "Answer" && c.class != "Module")
            .filter(|c| c.class != "Question")
            .map(|c| (ix.rollup_count(c.concept_id), c.concept_id))
            .filter(|(n, _)| *n > 0)
            .collect();
        // Spread over the frequency range: common, middling and rare concepts.
        v.sort_unstable();
        let step = (v.len() / limit).max(1);
        v.into_iter().step_by(step).map(|(_, c)| c).collect()
    };
    let by_domain = Domain::ALL
        .iter()
        .map(|d| (*d, occurring(d.omop_id(), 12)))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let of = |domain: &str| -> Vec<i64> {
        cdr.all_concepts()
            .filter(|c| c.domain == domain)
            .map(|c| c.concept_id)
            .collect()
    };
    let sex_q = cdr
        .by_code(crate::cohort::SEX_AT_BIRTH_QUESTION_CODE)
        .unwrap()
        .concept_id;
    let mut surveys = Vec::new();
    for m in cdr.all_concepts().filter(|c| c.class == "Module") {
        for q in cdr.descendants(m.concept_id) {
            if cdr.concept(q).is_some_and(|c| c.class == "Question") {
                surveys.push((m.concept_id, q, cdr.descendants(q)));
            }
        }
    }
    Pools {
        by_domain,
        measurement_values: of("Meas Value"),
        visits: of("Visit"),
        races: of("Race"),
        ethnicities: of("Ethnicity"),
        genders: of("Gender"),
        sexes: cdr.descendants(sex_q),
        surveys,
    }
}

fn ids(pool: &[i64]) -> impl Strategy<Value = Vec<i64>> + use<> {
    proptest::sample::subsequence(pool.to_vec(), 1..=pool.len().clamp(1, 3))
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (1990i32..2026, 1u32..=12, 1u32..=28)
        .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

fn value_filter(values: Vec<i64>) -> BoxedStrategy<ValueFilter> {
    let v = || (0i32..200).prop_map(|x| f64::from(x) / 10.0);
    let numeric = prop_oneof![
        v().prop_map(|value| ValueFilter::GreaterThanOrEqualTo { value }),
        v().prop_map(|value| ValueFilter::LessThan { value }),
        v().prop_map(|value| ValueFilter::GreaterThan { value }),
        v().prop_map(|value| ValueFilter::LessThanOrEqualTo { value }),
        v().prop_map(|value| ValueFilter::Equal { value }),
        v().prop_map(|value| ValueFilter::NotEqual { value }),
        (v(), v()).prop_map(|(a, b)| ValueFilter::Between {
            min: a.min(b),
            max: a.max(b)
        }),
    ];
    if values.is_empty() {
        return numeric.boxed();
    }
    prop_oneof![
        4 => numeric,
        1 => ids(&values).prop_map(|value_concept_ids| ValueFilter::In { value_concept_ids }),
    ]
    .boxed()
}

fn modifiers(visits: Vec<i64>, domain: bool) -> impl Strategy<Value = Modifiers> {
    let age = (0u32..90, 0u32..60).prop_map(|(lo, span)| AgeRange {
        min: Some(lo),
        max: Some(lo + span),
    });
    let age = prop_oneof![
        age,
        (0u32..90).prop_map(|lo| AgeRange {
            min: Some(lo),
            max: None
        }),
        (0u32..90).prop_map(|hi| AgeRange {
            min: None,
            max: Some(hi)
        }),
    ];
    let dates = prop_oneof![
        date().prop_map(|date| DateFilter::OnOrBefore { date }),
        date().prop_map(|date| DateFilter::OnOrAfter { date }),
        (date(), date()).prop_map(|(a, b)| DateFilter::Between {
            start: a.min(b),
            end: a.max(b)
        }),
    ];
    let visits = if domain && !visits.is_empty() {
        proptest::option::weighted(0.3, ids(&visits)).boxed()
    } else {
        Just(None).boxed()
    };
    (
        proptest::option::weighted(0.3, age),
        // Up to TALLIED_DATES the index engine tallies dates per person; above, it sorts.
        proptest::option::weighted(0.3, prop_oneof![3 => 1u32..5, 1 => 7u32..11]),
        proptest::option::weighted(0.3, dates),
        visits,
    )
        .prop_map(
            |(age_at_event, occurrences_at_least, event_date, during_visit_type)| Modifiers {
                age_at_event,
                occurrences_at_least,
                event_date,
                during_visit_type,
            },
        )
}

fn event_kind(p: &Pools) -> BoxedStrategy<(CriterionKind, bool)> {
    let mut options: Vec<BoxedStrategy<(CriterionKind, bool)>> = Vec::new();
    for (domain, pool) in &p.by_domain {
        let domain = *domain;
        let value = if domain == Domain::Measurement {
            proptest::option::weighted(0.5, value_filter(p.measurement_values.clone())).boxed()
        } else {
            Just(None).boxed()
        };
        options.push(
            (proptest::sample::select(pool.clone()), any::<bool>(), value)
                .prop_map(move |(concept_id, include_descendants, value)| {
                    (
                        CriterionKind::Domain {
                            domain,
                            concept_id,
                            include_descendants,
                            value,
                        },
                        true,
                    )
                })
                .boxed(),
        );
    }
    let pm = vec![3038553i64, 3004249];
    options.push(
        (
            proptest::sample::select(pm),
            proptest::option::weighted(0.6, value_filter(p.measurement_values.clone())),
        )
            .prop_map(|(concept_id, value)| {
                (
                    CriterionKind::PhysicalMeasurement { concept_id, value },
                    false,
                )
            })
            .boxed(),
    );
    let surveys = p.surveys.clone();
    options.push(
        (
            proptest::sample::select(surveys),
            0usize..3,
            any::<proptest::sample::Index>(),
        )
            .prop_map(|((m, q, answers), depth, a)| {
                let kind = CriterionKind::Survey {
                    module_concept_id: m,
                    question_concept_id: (depth >= 1).then_some(q),
                    answer_concept_id: (depth == 2 && !answers.is_empty())
                        .then(|| answers[a.index(answers.len())]),
                };
                (kind, false)
            })
            .boxed(),
    );
    proptest::strategy::Union::new(options).boxed()
}

fn person_kind(p: &Pools) -> BoxedStrategy<CriterionKind> {
    let basis = proptest::sample::select(AgeBasis::ALL.to_vec());
    prop_oneof![
        (basis, 0u32..100, 0u32..40).prop_map(|(basis, min, span)| CriterionKind::Age {
            basis,
            min,
            max: (min + span).min(MAX_AGE),
        }),
        Just(CriterionKind::Deceased {}),
        Just(CriterionKind::HasEhrData {}),
        ids(&p.races).prop_map(|concept_ids| CriterionKind::Race { concept_ids }),
        ids(&p.ethnicities).prop_map(|concept_ids| CriterionKind::Ethnicity { concept_ids }),
        ids(&p.genders).prop_map(|concept_ids| CriterionKind::GenderIdentity { concept_ids }),
        ids(&p.sexes).prop_map(|concept_ids| CriterionKind::SexAtBirth { concept_ids }),
    ]
    .boxed()
}

/// A criterion (ids are filled in later).
fn criterion(p: &Pools, events_only: bool) -> BoxedStrategy<Criterion> {
    let visits = p.visits.clone();
    let event = event_kind(p).prop_flat_map(move |(kind, domain)| {
        (Just(kind), modifiers(visits.clone(), domain)).prop_map(|(kind, modifiers)| Criterion {
            id: String::new(),
            kind,
            modifiers,
        })
    });
    if events_only {
        return event.boxed();
    }
    let person = person_kind(p).prop_map(|kind| Criterion {
        id: String::new(),
        kind,
        modifiers: Modifiers::default(),
    });
    prop_oneof![3 => event, 2 => person].boxed()
}

fn group(p: &Pools) -> BoxedStrategy<Group> {
    let temporal_kind = prop_oneof![
        Just(TemporalKind::DuringSameEncounter {}),
        (0i64..400).prop_map(|days| TemporalKind::XOrMoreDaysBefore { days }),
        (0i64..400).prop_map(|days| TemporalKind::XOrMoreDaysAfter { days }),
        (0i64..400).prop_map(|days| TemporalKind::WithinXDays { days }),
    ];
    let plain = proptest::collection::vec(criterion(p, false), 1..4).prop_map(|criteria| Group {
        id: String::new(),
        criteria,
        mention: Mention::AnyMention,
        temporal: None,
        suppressed: false,
    });
    let mentioned = (
        proptest::collection::vec(criterion(p, true), 1..3),
        proptest::sample::select(Mention::ALL.to_vec()),
    )
        .prop_map(|(criteria, mention)| Group {
            id: String::new(),
            criteria,
            mention,
            temporal: None,
            suppressed: false,
        });
    let temporal = (
        proptest::collection::vec(criterion(p, true), 1..3),
        proptest::sample::select(Mention::ALL.to_vec()),
        temporal_kind,
        proptest::collection::vec(criterion(p, true), 1..3),
    )
        .prop_map(|(criteria, mention, kind, second)| Group {
            id: String::new(),
            criteria,
            mention,
            temporal: Some(Temporal { kind, second }),
            suppressed: false,
        });
    (
        prop_oneof![3 => plain, 1 => mentioned, 2 => temporal],
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(mut g, suppressed)| {
            g.suppressed = suppressed;
            g
        })
        .boxed()
}

fn definition(p: &Pools) -> BoxedStrategy<CohortDefinition> {
    (
        proptest::collection::vec(group(p), 1..4),
        proptest::collection::vec(group(p), 0..3),
    )
        .prop_map(|(include, exclude)| {
            let mut def = CohortDefinition { include, exclude };
            let (mut g, mut c) = (0, 0);
            for group in def.include.iter_mut().chain(def.exclude.iter_mut()) {
                g += 1;
                group.id = format!("g{g}");
                let second = group.temporal.as_mut().map(|t| &mut t.second);
                for crit in group
                    .criteria
                    .iter_mut()
                    .chain(second.into_iter().flatten())
                {
                    c += 1;
                    crit.id = format!("c{c}");
                }
            }
            def
        })
        .boxed()
}

/// Runs the total, every group's and every criterion's query as one `UNION ALL` (each part
/// tagged by its position); the answers in that order, each sorted.
async fn all_parts(
    ctx: &datafusion::prelude::SessionContext,
    c: &crate::cohort_sql::Compiled,
) -> Vec<Vec<i64>> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{DataType, Int64Type};
    let queries: Vec<&str> = std::iter::once(c.total.as_str())
        .chain(c.groups.iter().map(|(_, q)| q.as_str()))
        .chain(c.criteria.iter().map(|(_, q)| q.as_str()))
        .collect();
    let sql = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            format!("SELECT CAST({i} AS BIGINT) AS part, person_id FROM ({q}) AS part_{i}")
        })
        .collect::<Vec<_>>()
        .join("\nUNION ALL\n");
    let run = async { ctx.sql(&sql).await?.collect().await };
    let batches = run.await.unwrap_or_else(|e| panic!("{e}\nSQL:\n{sql}"));
    let mut out = vec![Vec::new(); queries.len()];
    for b in batches {
        let part = datafusion::arrow::compute::cast(b.column(0), &DataType::Int64).unwrap();
        let person = datafusion::arrow::compute::cast(b.column(1), &DataType::Int64).unwrap();
        for (p, id) in part
            .as_primitive::<Int64Type>()
            .iter()
            .zip(person.as_primitive::<Int64Type>().iter())
        {
            if let (Some(p), Some(id)) = (p, id) {
                out[p as usize].push(id);
            }
        }
    }
    for v in &mut out {
        v.sort_unstable();
        v.dedup();
    }
    out
}

#[test]
fn both_engines_select_the_same_persons() {
    let started = std::time::Instant::now();
    let cases: u32 = std::env::var("WB_DIFFERENTIAL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    // One runner per core, each with its own seed from one base seed (printed on failure;
    // WB_DIFFERENTIAL_SEED replays a run).
    let seed: u64 = std::env::var("WB_DIFFERENTIAL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let runners = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, cases.max(1) as usize) as u32;
    let tallies: Vec<Result<(u32, u32), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..runners)
            .map(|r| {
                let share = cases / runners + u32::from(r < cases % runners);
                s.spawn(move || run_cases(share, seed, r))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a runner panicked".into())))
            .collect()
    });
    let (mut nonempty, mut partial) = (0, 0);
    for (r, t) in tallies.into_iter().enumerate() {
        match t {
            Ok((n, p)) => (nonempty, partial) = (nonempty + n, partial + p),
            Err(e) => panic!("WB_DIFFERENTIAL_SEED={seed}, runner {r}: {e}"),
        }
    }
    eprintln!(
        "differential: {cases} definitions agreed ({nonempty} cohorts not empty, {partial} \
         neither empty nor everyone) on {runners} runners in {:.1} s (WB_DIFFERENTIAL_SEED={seed})",
        started.elapsed().as_secs_f64()
    );
    // The cases exercise something: many cohorts are neither empty nor everyone.
    assert!(
        partial * 10 >= cases.min(100),
        "only {partial} of {cases} cohorts were partial ({nonempty} not empty)"
    );
}

/// `cases` random definitions checked on this thread (runner `r` of the run seeded `seed`):
/// how many cohorts were not empty, and how many were neither empty nor everyone.
fn run_cases(cases: u32, seed: u64, r: u32) -> Result<(u32, u32), String> {
    if cases == 0 {
        return Ok((0, 0));
    }
    let pools = pools();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The test CDR is tiny: one partition spares the repartitioning a debug build is slow at.
    let config = datafusion::prelude::SessionConfig::new().with_target_partitions(1);
    let ctx = rt
        .block_on(crate::parquet_in::session_with(&CDR, config))
        .unwrap();
    let tables = crate::cohort_sql::CdrTables::in_dir(&CDR);
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..12].copy_from_slice(&r.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            // Definitions `validate` refuses are drawn again (a few in a hundred).
            max_global_rejects: cases.max(1024),
            failure_persistence: None,
            ..Config::default()
        },
        rng,
    );
    let nonempty = std::cell::Cell::new(0u32);
    let partial = std::cell::Cell::new(0u32);
    let result = runner.run(&definition(&pools), |def| {
        prop_assume!(validate(&def).is_ok());
        prop_assume!(ENGINE.check(&def).is_empty());
        let e = ENGINE.evaluate(&def, today()).unwrap();
        let compiled = crate::cohort_sql::compile(&def, today(), &tables);
        // Every query of the case in one execution (planning and scanning once per case).
        let mut answers = rt.block_on(all_parts(&ctx, &compiled)).into_iter();
        let mut sql = || answers.next().expect("one answer per query");
        let total = ENGINE.person_ids(&e.total);
        prop_assert_eq!(&total, &sql(), "total; SQL:\n{}", compiled.total);
        for ((id, set), (sid, q)) in e.groups.iter().zip(&compiled.groups) {
            prop_assert_eq!(id, sid);
            prop_assert_eq!(ENGINE.person_ids(set), sql(), "group {}; SQL:\n{}", id, q);
        }
        for ((id, set), (sid, q)) in e.criteria.iter().zip(&compiled.criteria) {
            prop_assert_eq!(id, sid);
            prop_assert_eq!(
                ENGINE.person_ids(set),
                sql(),
                "criterion {}; SQL:\n{}",
                id,
                q
            );
        }
        prop_assert_eq!(e.groups.len(), compiled.groups.len());
        prop_assert_eq!(e.criteria.len(), compiled.criteria.len());
        if !total.is_empty() {
            nonempty.set(nonempty.get() + 1);
            if (total.len() as u64) < ENGINE.persons() {
                partial.set(partial.get() + 1);
            }
        }
        Ok(())
    });
    result.map_err(|e| e.to_string())?;
    Ok((nonempty.get(), partial.get()))
}
