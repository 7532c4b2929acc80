//! Events sorted by concept: `index/events_by_concept.parquet`, every event of every event table
//! (and every survey answer) as `(concept_id, person_id, event_date, value_as_number,
//! value_as_concept_id, visit_occurrence_id, visit_concept_id)`, sorted by concept, person and
//! date (then the other columns), with each concept's row range kept in the [`Index`]. Criteria
//! with event-level modifiers (value ranges, occurrence counts, dates, visit types, time between
//! events) read only their concepts' rows instead of the tables (performance.md §3.2). An event
//! is what `docs/cohort-definition.md` ("Evaluation") calls one: a row's concept, or an
//! observation's answer (`value_as_concept_id`, with no value of its own); its visit is the row's
//! `visit_occurrence_id` (a visit's own id) with that visit's concept.
//!
//! The same rows are written as raw columns in `index/events/` ([`crate::columns`]), which the
//! cohort engine reads; the Parquet file is for other tools (DuckDB, DataFusion, pandas).
//!
//! Memory stays bounded: concepts are cut into ranges of at most `budget_rows` events, and each
//! range is one pass over the tables' few columns, sorted in memory and appended.
//!
//! [`Index`]: crate::index::Index

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};

use crate::CdrError;
use crate::generate::{ManifestTable, ParquetSink};
use crate::rows::{TableRows, Val};
use crate::schema::{self, Column, Kind, Part, Role, Table};

/// Events per pass by default (about 0.5 GiB of rows in memory).
pub const BUDGET_ROWS: usize = 1 << 23;

/// The `source` of an event that is an observation's answer (`value_as_concept_id`); other
/// events carry the position of their table in [`schema::EVENT_TABLES`].
pub const ANSWER_SOURCE: i64 = 100;

/// Rows per data page of the sorted file: small pages, so reading one concept's range decodes
/// little beyond it (the reader skips pages with the offset index).
pub const PAGE_ROWS: usize = 8 * 1024;

/// The derived table (not an OMOP table; the importer never sees it).
pub const EVENTS_BY_CONCEPT: Table = Table {
    name: "events_by_concept",
    part: Part::Clinical,
    columns: &[
        Column {
            name: "concept_id",
            kind: Kind::Int,
            nullable: false,
            role: Role::Concept,
        },
        Column {
            name: "person_id",
            kind: Kind::Int,
            nullable: false,
            role: Role::Person,
        },
        Column {
            name: "event_date",
            kind: Kind::Date,
            nullable: false,
            role: Role::EventDate,
        },
        Column {
            name: "value_as_number",
            kind: Kind::Float,
            nullable: true,
            role: Role::Plain,
        },
        Column {
            name: "value_as_concept_id",
            kind: Kind::Int,
            nullable: true,
            role: Role::Concept,
        },
        Column {
            name: "visit_occurrence_id",
            kind: Kind::Int,
            nullable: true,
            role: Role::Plain,
        },
        Column {
            name: "visit_concept_id",
            kind: Kind::Int,
            nullable: true,
            role: Role::Concept,
        },
        Column {
            name: "source",
            kind: Kind::Int,
            nullable: false,
            role: Role::Plain,
        },
    ],
    required: false,
    event_concept: Some("concept_id"),
    event_date: Some("event_date"),
    value_concept: None,
};

#[derive(Debug, Clone, Copy, PartialEq)]
struct Row {
    concept: i64,
    person: i64,
    date: i32,
    value: Option<f64>,
    value_concept: Option<i64>,
    visit: Option<i64>,
    visit_concept: Option<i64>,
    source: i64,
}

impl Row {
    fn key(&self) -> (i64, i64, i32) {
        (self.concept, self.person, self.date)
    }
}

/// Each visit's concept, by `visit_occurrence_id`.
fn visit_concepts(dir: &Path) -> Result<HashMap<i64, i64>, CdrError> {
    let path = dir.join("visit_occurrence.parquet");
    let mut out = HashMap::new();
    if !path.exists() {
        return Ok(out);
    }
    let wanted = [
        ("visit_occurrence_id", DataType::Int64),
        ("visit_concept_id", DataType::Int64),
    ];
    crate::parquet_in::scan(&path, &wanted, |cols| {
        let (ids, concepts) = (
            cols[0].as_primitive::<Int64Type>(),
            cols[1].as_primitive::<Int64Type>(),
        );
        for i in 0..ids.len() {
            if ids.is_valid(i) && concepts.is_valid(i) {
                out.insert(ids.value(i), concepts.value(i));
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// Calls `f` with every event row of `table` (and its survey answer, if any).
fn scan(
    dir: &Path,
    source: usize,
    table: &Table,
    visits: &HashMap<i64, i64>,
    mut f: impl FnMut(Row),
) -> Result<(), CdrError> {
    let path = dir.join(format!("{}.parquet", table.name));
    if !path.exists() {
        return Ok(());
    }
    let has = |c: &str| table.column(c).is_some();
    let mut wanted = vec![
        ("person_id", DataType::Int64),
        (table.event_concept.expect("event table"), DataType::Int64),
        (table.event_date.expect("event table"), DataType::Date32),
    ];
    let value = has("value_as_number");
    let value_concept = has("value_as_concept_id");
    let visit = has("visit_occurrence_id");
    if value {
        wanted.push(("value_as_number", DataType::Float64));
    }
    if value_concept {
        wanted.push(("value_as_concept_id", DataType::Int64));
    }
    if visit {
        wanted.push(("visit_occurrence_id", DataType::Int64));
    }
    let answers_too = table.value_concept == Some("value_as_concept_id");
    crate::parquet_in::scan(&path, &wanted, |cols| {
        let persons = cols[0].as_primitive::<Int64Type>();
        let concepts = cols[1].as_primitive::<Int64Type>();
        let dates = cols[2].as_primitive::<Date32Type>();
        let mut rest = cols[3..].iter();
        let values = value
            .then(|| rest.next())
            .flatten()
            .map(|v| v.as_primitive::<Float64Type>());
        let value_concepts = value_concept
            .then(|| rest.next())
            .flatten()
            .map(|v| v.as_primitive::<Int64Type>());
        let visit_ids = visit
            .then(|| rest.next())
            .flatten()
            .map(|v| v.as_primitive::<Int64Type>());
        let opt = |a: Option<&datafusion::arrow::array::PrimitiveArray<Int64Type>>, i: usize| {
            a.and_then(|a| a.is_valid(i).then(|| a.value(i)))
        };
        for i in 0..persons.len() {
            let (person, date) = (persons.value(i), dates.value(i));
            let c = concepts.value(i);
            let visit = opt(visit_ids, i);
            let visit_concept = visit.and_then(|v| visits.get(&v).copied());
            let vc = opt(value_concepts, i);
            if c != 0 {
                f(Row {
                    concept: c,
                    person,
                    date,
                    value: values.and_then(|v| v.is_valid(i).then(|| v.value(i))),
                    value_concept: vc,
                    visit,
                    visit_concept,
                    source: source as i64,
                });
            }
            if answers_too && let Some(a) = vc.filter(|a| *a != 0) {
                f(Row {
                    concept: a,
                    person,
                    date,
                    value: None,
                    value_concept: None,
                    visit,
                    visit_concept,
                    source: ANSWER_SOURCE,
                });
            }
        }
        Ok(())
    })
}

/// A total order on rows (floats by `total_cmp`, an empty value first).
fn row_order(a: &Row, b: &Row) -> std::cmp::Ordering {
    a.key()
        .cmp(&b.key())
        .then_with(|| match (a.value, b.value) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (x, y) => x.is_some().cmp(&y.is_some()),
        })
        .then_with(|| {
            (a.value_concept, a.visit, a.visit_concept, a.source).cmp(&(
                b.value_concept,
                b.visit,
                b.visit_concept,
                b.source,
            ))
        })
}

/// Writes `out_dir/events_by_concept.parquet` and the same rows as raw columns in
/// `out_dir/events/` ([`crate::columns`], persons by their bit in `person_ids`) from the CDR in
/// `dir`; returns each concept's `(first row, rows)` and the Parquet file's manifest entry.
#[allow(clippy::type_complexity)]
pub fn write(
    dir: &Path,
    out_dir: &Path,
    budget_rows: usize,
    person_ids: &[i64],
) -> Result<(HashMap<i64, (u64, u64)>, ManifestTable), CdrError> {
    // Pass 0: rows per concept.
    let visits = visit_concepts(dir)?;
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    for (i, t) in schema::EVENT_TABLES.iter().enumerate() {
        scan(dir, i, t, &visits, |r| {
            *counts.entry(r.concept).or_default() += 1
        })?;
    }
    // Concept ranges of at most `budget_rows` rows (a bigger concept is a range of its own).
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    let mut current: Option<(i64, i64, u64)> = None;
    for (c, n) in &counts {
        current = match current {
            Some((lo, _, rows)) if rows + n <= budget_rows as u64 => Some((lo, *c, rows + n)),
            Some((lo, hi, _)) => {
                ranges.push((lo, hi));
                Some((*c, *c, *n))
            }
            None => Some((*c, *c, *n)),
        };
    }
    ranges.extend(current.map(|(lo, hi, _)| (lo, hi)));
    std::fs::create_dir_all(out_dir).map_err(|source| CdrError::Io {
        path: out_dir.display().to_string(),
        source,
    })?;
    let props = crate::generate::writer_properties_builder()
        .set_data_page_row_count_limit(PAGE_ROWS)
        .build();
    let mut sink = ParquetSink::create_with(out_dir, &EVENTS_BY_CONCEPT, props)?;
    let mut columns = crate::columns::Writer::create(out_dir)?;
    let mut bits = (i64::MIN, crate::columns::NO_PERSON);
    let mut offsets = HashMap::with_capacity(counts.len());
    let mut next_row = 0u64;
    for (lo, hi) in ranges {
        let mut rows: Vec<Row> = Vec::new();
        for (i, t) in schema::EVENT_TABLES.iter().enumerate() {
            scan(dir, i, t, &visits, |r| {
                if (lo..=hi).contains(&r.concept) {
                    rows.push(r);
                }
            })?;
        }
        rows.sort_unstable_by(row_order);
        for chunk in rows.chunk_by(|a, b| a.concept == b.concept) {
            offsets.insert(chunk[0].concept, (next_row, chunk.len() as u64));
            next_row += chunk.len() as u64;
        }
        for part in rows.chunks(ParquetSink::BATCH) {
            let mut out = TableRows::new(&EVENTS_BY_CONCEPT);
            for r in part {
                out.push(&[
                    Val::Int(r.concept),
                    Val::Int(r.person),
                    Val::Date(r.date),
                    r.value.map_or(Val::Null, Val::Float),
                    r.value_concept.map_or(Val::Null, Val::Int),
                    r.visit.map_or(Val::Null, Val::Int),
                    r.visit_concept.map_or(Val::Null, Val::Int),
                    Val::Int(r.source),
                ]);
            }
            sink.write(&out.finish())?;
            let raw: Vec<crate::columns::EventRow> = part
                .iter()
                .map(|r| {
                    if r.person != bits.0 {
                        bits = (
                            r.person,
                            person_ids
                                .binary_search(&r.person)
                                .map_or(crate::columns::NO_PERSON, |b| b as u32),
                        );
                    }
                    crate::columns::EventRow {
                        person: bits.1,
                        date: r.date,
                        value: r.value,
                        value_concept: r.value_concept,
                        visit: r.visit,
                        visit_concept: r.visit_concept,
                        source: r.source as u8,
                    }
                })
                .collect();
            columns.push(&raw)?;
        }
    }
    columns.finish()?;
    Ok((offsets, sink.finish()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{GenerateConfig, generate};
    use datafusion::prelude::{ParquetReadOptions, SessionContext};

    #[tokio::test]
    async fn events_are_sorted_by_concept_with_exact_ranges_whatever_the_budget() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cdr");
        generate(
            &dir,
            &GenerateConfig {
                seed: 9,
                persons: 400,
                concepts_per_domain: 500,
                threads: 2,
                chunk: 100,
                ..Default::default()
            },
            &|_, _| {},
            &mut |_| Ok(()),
        )
        .unwrap();
        let ids = crate::index::Index::build(&dir).unwrap().0.person_ids;
        let (small, file_small) = write(&dir, &tmp.path().join("a"), 3_000, &ids).unwrap();
        let (big, file_big) = write(&dir, &tmp.path().join("b"), BUDGET_ROWS, &ids).unwrap();
        assert_eq!(small, big);
        assert_eq!(
            file_small, file_big,
            "the same bytes whatever the number of passes"
        );
        for f in [
            "person.u32",
            "date.i32",
            "value.f64",
            "visit.i64",
            "columns.json",
        ] {
            let read = |d: &str| std::fs::read(tmp.path().join(d).join("events").join(f)).unwrap();
            assert_eq!(read("a"), read("b"), "{f}");
        }

        let ctx = SessionContext::new();
        for t in ["condition_occurrence", "measurement", "observation"] {
            let p = dir.join(format!("{t}.parquet"));
            ctx.register_parquet(t, p.to_str().unwrap(), ParquetReadOptions::default())
                .await
                .unwrap();
        }
        let p = tmp.path().join("a").join("events_by_concept.parquet");
        ctx.register_parquet("e", p.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap();
        let one = |sql: String| {
            let ctx = ctx.clone();
            async move {
                let b = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                b[0].column(0).as_primitive::<Int64Type>().value(0)
            }
        };
        // Sorted: no row is smaller than the one before it.
        let unsorted = one(
            "SELECT COUNT(*) FROM (SELECT concept_id, person_id, event_date, \
             LAG(concept_id) OVER (ORDER BY rn) AS pc, LAG(person_id) OVER (ORDER BY rn) AS pp, \
             LAG(event_date) OVER (ORDER BY rn) AS pd FROM \
             (SELECT *, ROW_NUMBER() OVER () AS rn FROM e)) \
             WHERE concept_id < pc OR (concept_id = pc AND (person_id < pp OR (person_id = pp AND event_date < pd)))"
                .into(),
        )
        .await;
        assert_eq!(unsorted, 0);
        // Every range holds exactly its concept's events, with their values.
        for (concept, table, column) in [
            (201826, "condition_occurrence", "condition_concept_id"),
            (3004410, "measurement", "measurement_concept_id"),
        ] {
            let (start, len) = small[&concept];
            let want = one(format!(
                "SELECT COUNT(*) FROM {table} WHERE {column} = {concept}"
            ))
            .await;
            assert_eq!(len as i64, want, "{concept}");
            let inside = one(format!(
                "SELECT COUNT(*) FROM (SELECT concept_id, ROW_NUMBER() OVER () - 1 AS rn FROM e) \
                 WHERE rn >= {start} AND rn < {} AND concept_id = {concept}",
                start + len
            ))
            .await;
            assert_eq!(inside, want);
        }
        let high = one(
            "SELECT COUNT(*) FROM e WHERE concept_id = 3004410 AND value_as_number >= 6.5".into(),
        )
        .await;
        let want = one(
            "SELECT COUNT(*) FROM measurement WHERE measurement_concept_id = 3004410 AND value_as_number >= 6.5"
                .into(),
        )
        .await;
        assert_eq!(high, want);
        assert!(high > 0);
        // Survey answers are rows of their own.
        let answers =
            one("SELECT COUNT(*) FROM observation WHERE value_as_concept_id IS NOT NULL".into())
                .await;
        let answer_rows = one(format!(
            "SELECT COUNT(*) FROM e WHERE concept_id >= {}",
            crate::vocabulary::SURVEY_ID_BASE
        ))
        .await;
        // Question rows and answer rows: both in the survey id range.
        assert_eq!(answer_rows, 2 * answers);

        // The raw columns hold the Parquet file's rows, row for row.
        use crate::columns::{Col, Columns, NO_VALUE};
        let cols = Columns::open(&tmp.path().join("a")).unwrap().unwrap();
        let n = cols.rows();
        assert_eq!(n, file_small.rows);
        let (mut person, mut date, mut value, mut vc, mut visit, mut source) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        cols.read::<u32>(Col::Person, 0, n, &mut person).unwrap();
        cols.read::<i32>(Col::Date, 0, n, &mut date).unwrap();
        cols.read::<f64>(Col::Value, 0, n, &mut value).unwrap();
        cols.read::<u32>(Col::VisitConcept, 0, n, &mut vc).unwrap();
        cols.read::<i64>(Col::Visit, 0, n, &mut visit).unwrap();
        cols.read::<u8>(Col::Source, 0, n, &mut source).unwrap();
        let wanted = [
            ("person_id", DataType::Int64),
            ("event_date", DataType::Date32),
            ("value_as_number", DataType::Float64),
            ("visit_concept_id", DataType::Int64),
            ("visit_occurrence_id", DataType::Int64),
            ("source", DataType::Int64),
        ];
        let mut at = 0usize;
        crate::parquet_in::scan(&p, &wanted, |c| {
            let (pi, d, v) = (
                c[0].as_primitive::<Int64Type>(),
                c[1].as_primitive::<Date32Type>(),
                c[2].as_primitive::<Float64Type>(),
            );
            let (k, vi, s) = (
                c[3].as_primitive::<Int64Type>(),
                c[4].as_primitive::<Int64Type>(),
                c[5].as_primitive::<Int64Type>(),
            );
            for i in 0..pi.len() {
                assert_eq!(ids[person[at] as usize], pi.value(i));
                assert_eq!(date[at], d.value(i));
                let stored = Some(value[at]).filter(|x| x.to_bits() != NO_VALUE);
                assert_eq!(stored, v.is_valid(i).then(|| v.value(i)));
                assert_eq!(
                    cols.visit_concept(vc[at]),
                    k.is_valid(i).then(|| k.value(i))
                );
                let stored = Some(visit[at]).filter(|x| *x != i64::MIN);
                assert_eq!(stored, vi.is_valid(i).then(|| vi.value(i)));
                assert_eq!(i64::from(source[at]), s.value(i));
                at += 1;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(at as u64, n);
    }
}
