//! Cohort definitions compiled to SQL over the CDR's OMOP Parquet tables: the *reference
//! semantics* of a definition ("View SQL"), run here by DataFusion and later by a distributed
//! engine.
//!
//! The SQL implements `docs/cohort-definition.md`, section "Evaluation: what a definition
//! selects, exactly", step by step, so it can be read against the text:
//!
//! - one `events` CTE holds every event (a row of an event table, or an `observation` row's
//!   answer concept) with its person's birth and its visit's concept;
//! - each criterion is a chain of CTEs `cN_base` → `cN_first` / `cN_last` (the group's mention)
//!   → `cN_modified` (age at event, event date, visit type) → `cN` (occurrence dates), each step
//!   only when it applies, the last one always named `cN`; person criteria are one CTE `cN` of
//!   persons;
//! - each group is a CTE `gN` (with `gN_first` / `gN_second` for a temporal group), and the
//!   total intersects the include groups and subtracts the exclude groups.
//!
//! Plain SQL only (CTEs, set operations, joins, `IN` subqueries, `GROUP BY` / `HAVING`, `CASE`,
//! `EXTRACT`, date subtraction, standard casts): no UDFs, session state or temporary tables.
//! Values are inlined as literals. Group and criterion ids never reach an identifier: CTEs are
//! numbered, and ids appear only in comments, escaped.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use wb_domain::cohort::{
    AgeBasis, AgeRange, CohortDefinition, ConceptId, Criterion, CriterionKind, DateFilter, Group,
    Mention, Modifiers, TemporalKind, ValueFilter,
};

use crate::CdrError;
use crate::schema::{self, Kind, Table};

/// The domains whose events make "Has EHR data".
const EHR_DOMAINS: [&str; 5] = ["Condition", "Drug", "Procedure", "Visit", "Device"];

/// Which tables of [`schema::TABLES`] a CDR has. A table it lacks (`device_exposure` and
/// `death` are optional) compiles to an empty relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdrTables {
    present: BTreeSet<&'static str>,
}

impl CdrTables {
    /// Every table of the schema.
    pub fn all() -> Self {
        Self {
            present: schema::TABLES.iter().map(|t| t.name).collect(),
        }
    }

    /// The schema's tables among `names` (other names are ignored).
    pub fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        let names: BTreeSet<String> = names.into_iter().map(|s| s.as_ref().to_owned()).collect();
        Self {
            present: schema::TABLES
                .iter()
                .map(|t| t.name)
                .filter(|n| names.contains(*n))
                .collect(),
        }
    }

    /// The tables with a `<dir>/<table>.parquet` file, as [`context`] registers them.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            present: schema::TABLES
                .iter()
                .filter(|t| dir.join(format!("{}.parquet", t.name)).is_file())
                .map(|t| t.name)
                .collect(),
        }
    }

    pub fn has(&self, table: &str) -> bool {
        self.present.contains(table)
    }
}

/// A compiled definition. Every query returns one column, `person_id`, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    /// The cohort.
    pub total: String,
    /// `(group id, query)` for every group, include then exclude, suppressed ones included.
    pub groups: Vec<(String, String)>,
    /// `(criterion id, query)` for every criterion in definition order (a group's criteria,
    /// then its temporal second list), each on its own with its group's mention.
    pub criteria: Vec<(String, String)>,
}

/// Compiles `def` for a CDR with `tables`; "Current Age" is taken on `today`.
pub fn compile(def: &CohortDefinition, today: NaiveDate, tables: &CdrTables) -> Compiled {
    let g = Gen { tables, today };
    let mut crits: Vec<CritSql> = Vec::new();
    let mut groups: Vec<GroupSql> = Vec::new();
    let sections = def
        .include
        .iter()
        .enumerate()
        .map(|(i, grp)| ("include", i, grp))
        .chain(
            def.exclude
                .iter()
                .enumerate()
                .map(|(i, grp)| ("exclude", i, grp)),
        );
    for (section, index, group) in sections {
        let place = format!("{section} group {} \"{}\"", index + 1, escape_id(&group.id));
        let own: Vec<usize> = group
            .criteria
            .iter()
            .map(|c| {
                let label = format!("{place}, criterion \"{}\"", escape_id(&c.id));
                crits.push(g.criterion(c, crits.len() + 1, &label, group.mention));
                crits.len() - 1
            })
            .collect();
        let second: Vec<usize> = group
            .temporal
            .iter()
            .flat_map(|t| t.second.iter())
            .map(|c| {
                let label = format!(
                    "{place}, temporal second list, criterion \"{}\"",
                    escape_id(&c.id)
                );
                crits.push(g.criterion(c, crits.len() + 1, &label, Mention::AnyMention));
                crits.len() - 1
            })
            .collect();
        let num = groups.len() + 1;
        let mut compiled = g.group(group, num, &place, own, second, &crits);
        compiled.exclude = section == "exclude";
        groups.push(compiled);
    }

    let criteria = crits
        .iter()
        .map(|c| {
            let select = format!("SELECT DISTINCT person_id FROM {}", c.name);
            (
                c.id.clone(),
                g.query(c.needs, &c.ctes.iter().collect::<Vec<_>>(), &select),
            )
        })
        .collect();
    let group_queries = groups
        .iter()
        .map(|grp| {
            let (needs, ctes) = grp.ctes(&crits);
            let select = format!("SELECT DISTINCT person_id FROM {}", grp.name);
            (grp.id.clone(), g.query(needs, &ctes, &select))
        })
        .collect();
    Compiled {
        total: g.total(&groups, &crits),
        groups: group_queries,
        criteria,
    }
}

/// A session with every table of the CDR in `dir` registered under its name.
pub async fn context(dir: &Path) -> Result<SessionContext, CdrError> {
    crate::parquet_in::session(dir).await
}

/// Runs a compiled query (read-only: DDL, DML and other statements are refused): its person
/// ids, sorted.
pub async fn persons(ctx: &SessionContext, sql: &str) -> Result<Vec<i64>, CdrError> {
    let query = |e: datafusion::error::DataFusionError| CdrError::Query(e.to_string());
    let read_only = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let batches = ctx
        .sql_with_options(sql, read_only)
        .await
        .map_err(query)?
        .collect()
        .await
        .map_err(query)?;
    let mut out = Vec::new();
    for b in &batches {
        let col = b
            .column_by_name("person_id")
            .ok_or_else(|| CdrError::Query("the query returns no person_id column".into()))?;
        let col = cast(col, &DataType::Int64).map_err(|e| CdrError::Query(e.to_string()))?;
        out.extend(col.as_primitive::<Int64Type>().iter().flatten());
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

/// One common table expression: `-- comment` lines, then `name AS (body)`.
#[derive(Debug, Clone)]
struct Cte {
    name: String,
    comment: Vec<String>,
    body: String,
}

impl Cte {
    fn new(name: impl Into<String>, comment: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            comment: vec![comment.into()],
            body: body.into(),
        }
    }
}

/// The shared CTEs a query needs.
#[derive(Debug, Clone, Copy, Default)]
struct Needs {
    events: bool,
    cdr_date: bool,
    consent: bool,
}

impl Needs {
    fn or(self, o: Needs) -> Needs {
        Needs {
            events: self.events || o.events,
            cdr_date: self.cdr_date || o.cdr_date,
            consent: self.consent || o.consent,
        }
    }
}

/// A compiled criterion: its CTEs, the last one named `name` (`cN`).
struct CritSql {
    id: String,
    name: String,
    ctes: Vec<Cte>,
    needs: Needs,
    /// Whether `name` holds events (`person_id`, `event_date`, `visit_occurrence_id` …) or
    /// only persons.
    events: bool,
}

/// A compiled group: its own CTEs, the last one named `name` (`gN`), over its criteria's.
struct GroupSql {
    id: String,
    name: String,
    crits: Vec<usize>,
    ctes: Vec<Cte>,
    suppressed: bool,
    exclude: bool,
}

impl GroupSql {
    fn ctes<'a>(&'a self, crits: &'a [CritSql]) -> (Needs, Vec<&'a Cte>) {
        let mut needs = Needs::default();
        let mut out = Vec::new();
        for &i in &self.crits {
            needs = needs.or(crits[i].needs);
            out.extend(crits[i].ctes.iter());
        }
        out.extend(self.ctes.iter());
        (needs, out)
    }
}

struct Gen<'a> {
    tables: &'a CdrTables,
    today: NaiveDate,
}

/// An id for a comment: letters, digits, `-` and `_` as they are, anything else as `\u{…}`
/// (validation allows nothing else, so valid ids read unchanged).
fn escape_id(id: &str) -> String {
    let mut s = String::new();
    for c in id.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            s.push(c);
        } else {
            s.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    s
}

/// A DOUBLE literal that reads back as exactly `v` (Rust's shortest round-trip form always has
/// a `.` or an exponent, so SQL parses it as a float, not an integer).
fn float(v: f64) -> String {
    if v.is_nan() {
        "CAST('NaN' AS DOUBLE)".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "CAST('inf' AS DOUBLE)".into()
        } else {
            "CAST('-inf' AS DOUBLE)".into()
        }
    } else {
        // -0.0 compares equal to 0.0; written as 0.0 so no engine orders them apart.
        let v = if v == 0.0 { 0.0 } else { v };
        format!("{v:?}")
    }
}

/// A DATE literal. Years outside 1–9999 have no `DATE '…'` form; they are written as a day
/// count since 1970-01-01.
fn date(d: NaiveDate) -> String {
    if (1..=9999).contains(&d.year()) {
        format!("DATE '{}'", d.format("%Y-%m-%d"))
    } else {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
        format!("CAST(CAST({} AS INT) AS DATE)", (d - epoch).num_days())
    }
}

/// `col IN (a, b, …)`, the ids sorted and deduplicated; `FALSE` for no ids.
fn in_list(col: &str, ids: &[ConceptId]) -> String {
    let set: BTreeSet<ConceptId> = ids.iter().copied().collect();
    if set.is_empty() {
        "FALSE".into()
    } else {
        let list: Vec<String> = set.iter().map(|i| i.to_string()).collect();
        format!("{col} IN ({})", list.join(", "))
    }
}

fn ids_text(ids: &[ConceptId]) -> String {
    let set: BTreeSet<ConceptId> = ids.iter().copied().collect();
    let list: Vec<String> = set.iter().map(|i| i.to_string()).collect();
    if list.len() == 1 {
        list[0].clone()
    } else {
        format!("any of {}", list.join(", "))
    }
}

/// The age in whole years at `d` of the person whose birth columns are `p.year_of_birth` …:
/// the difference of the years, less one when `(month, day)` of `d` is before the birthday
/// (a missing birth month or day counts as 1). Spans three lines, indented by `indent`.
fn age_at(d: &str, p: &str, indent: &str) -> String {
    format!(
        "EXTRACT(YEAR FROM {d}) - {p}.year_of_birth\n\
         {indent}  - CASE WHEN EXTRACT(MONTH FROM {d}) < COALESCE({p}.month_of_birth, 1)\n\
         {indent}      OR (EXTRACT(MONTH FROM {d}) = COALESCE({p}.month_of_birth, 1)\n\
         {indent}          AND EXTRACT(DAY FROM {d}) < COALESCE({p}.day_of_birth, 1))\n\
         {indent}    THEN 1 ELSE 0 END"
    )
}

fn sql_type(k: Kind) -> &'static str {
    match k {
        Kind::Int => "BIGINT",
        Kind::Float => "DOUBLE",
        Kind::Text => "VARCHAR",
        Kind::Date => "DATE",
    }
}

/// An empty relation with `t`'s columns.
fn empty_table(t: &Table) -> String {
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| format!("CAST(NULL AS {}) AS {}", sql_type(c.kind), c.name))
        .collect();
    format!("(SELECT {} WHERE FALSE)", cols.join(", "))
}

fn value_filter(v: &ValueFilter) -> (String, String) {
    let n = "e.value_as_number";
    match v {
        ValueFilter::Equal { value } => (
            format!("{n} = {}", float(*value)),
            format!("value = {value:?}"),
        ),
        ValueFilter::NotEqual { value } => (
            format!("{n} <> {}", float(*value)),
            format!("value <> {value:?}"),
        ),
        ValueFilter::LessThan { value } => (
            format!("{n} < {}", float(*value)),
            format!("value < {value:?}"),
        ),
        ValueFilter::GreaterThan { value } => (
            format!("{n} > {}", float(*value)),
            format!("value > {value:?}"),
        ),
        ValueFilter::LessThanOrEqualTo { value } => (
            format!("{n} <= {}", float(*value)),
            format!("value <= {value:?}"),
        ),
        ValueFilter::GreaterThanOrEqualTo { value } => (
            format!("{n} >= {}", float(*value)),
            format!("value >= {value:?}"),
        ),
        ValueFilter::Between { min, max } => (
            format!("{n} BETWEEN {} AND {}", float(*min), float(*max)),
            format!("value between {min:?} and {max:?}"),
        ),
        ValueFilter::In { value_concept_ids } => (
            in_list("e.value_as_concept_id", value_concept_ids),
            format!("value concept {}", ids_text(value_concept_ids)),
        ),
    }
}

fn indent(body: &str, by: &str) -> String {
    body.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{by}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Gen<'_> {
    /// `table` as it is, or an empty relation with its columns when the CDR lacks it.
    fn table(&self, name: &str) -> String {
        self.table_as(name, None)
    }

    fn table_as(&self, name: &str, alias: Option<&str>) -> String {
        let t = schema::table(name).expect("a schema table");
        match (self.tables.has(name), alias) {
            (true, None) => name.to_owned(),
            (true, Some(a)) => format!("{name} AS {a}"),
            (false, a) => format!("{} AS {}", empty_table(t), a.unwrap_or(name)),
        }
    }

    /// Assembles one query: the shared CTEs it needs, `ctes`, then `select`.
    fn query(&self, needs: Needs, ctes: &[&Cte], select: &str) -> String {
        let shared = self.shared(needs);
        let all: Vec<&Cte> = shared.iter().chain(ctes.iter().copied()).collect();
        if all.is_empty() {
            return select.to_owned();
        }
        let mut s = String::from("WITH\n");
        for (i, c) in all.iter().enumerate() {
            if i > 0 {
                s.push_str(",\n");
            }
            for line in c.comment.iter().flat_map(|l| l.lines()) {
                s.push_str("-- ");
                s.push_str(line);
                s.push('\n');
            }
            s.push_str(&c.name);
            s.push_str(" AS (\n");
            s.push_str(&indent(&c.body, "  "));
            s.push_str("\n)");
        }
        s.push('\n');
        s.push_str(select);
        s
    }

    fn shared(&self, needs: Needs) -> Vec<Cte> {
        let mut out = Vec::new();
        if needs.events {
            out.push(self.events());
        }
        if needs.cdr_date {
            out.push(Cte::new(
                "cdr_date",
                "The CDR date: the latest observation_period_end_date.",
                format!(
                    "SELECT MAX(observation_period_end_date) AS cdr_date\nFROM {}",
                    self.table("observation_period")
                ),
            ));
        }
        if needs.consent {
            out.push(Cte::new(
                "consent",
                "Consent dates: each person's earliest survey answer (an observation of a \
                 concept of class 'Question').",
                format!(
                    "SELECT person_id, MIN(observation_date) AS consent_date\n\
                     FROM {}\n\
                     WHERE observation_concept_id IN (\n  \
                     SELECT concept_id FROM {} WHERE concept_class_id = 'Question'\n)\n\
                     GROUP BY person_id",
                    self.table("observation"),
                    self.table("concept")
                ),
            ));
        }
        out
    }

    /// Every event: a row of an event table (its concept, start date, values and visit) or an
    /// `observation` row's answer, with the person's birth and the visit's concept.
    fn events(&self) -> Cte {
        let mut branches = Vec::new();
        for t in schema::EVENT_TABLES
            .iter()
            .filter(|t| self.tables.has(t.name))
        {
            let col = |name: &str, ty: &str| {
                if t.column(name).is_some() {
                    name.to_owned()
                } else {
                    format!("CAST(NULL AS {ty}) AS {name}")
                }
            };
            // A visit's own id for a visit_occurrence row, the row's visit otherwise.
            let visit = col("visit_occurrence_id", "BIGINT");
            let concept = t.event_concept.expect("event table");
            let day = t.event_date.expect("event table");
            branches.push(format!(
                "-- {}\n\
                 SELECT person_id, {concept} AS concept_id, {day} AS event_date,\n  \
                 {}, {},\n  {visit}\n\
                 FROM {}",
                t.name,
                col("value_as_number", "DOUBLE"),
                col("value_as_concept_id", "BIGINT"),
                t.name
            ));
            if let Some(answer) = t.value_concept {
                branches.push(format!(
                    "-- {name} answers: events of the answer concept, without a value\n\
                     SELECT person_id, {answer} AS concept_id, {day} AS event_date,\n  \
                     CAST(NULL AS DOUBLE) AS value_as_number, \
                     CAST(NULL AS BIGINT) AS value_as_concept_id,\n  {visit}\n\
                     FROM {name}\n\
                     WHERE {answer} IS NOT NULL",
                    name = t.name
                ));
            }
        }
        if branches.is_empty() {
            branches.push(
                "SELECT CAST(NULL AS BIGINT) AS person_id, CAST(NULL AS BIGINT) AS concept_id,\n  \
                 CAST(NULL AS DATE) AS event_date, CAST(NULL AS DOUBLE) AS value_as_number,\n  \
                 CAST(NULL AS BIGINT) AS value_as_concept_id, \
                 CAST(NULL AS BIGINT) AS visit_occurrence_id\n\
                 WHERE FALSE"
                    .to_owned(),
            );
        }
        let union = indent(&branches.join("\nUNION ALL\n"), "  ");
        Cte::new(
            "events",
            "Every event: a row of an event table (its concept, start date, value and visit) or a\n\
             survey answer, with its person's birth and its visit's concept.",
            format!(
                "SELECT\n  \
                 e.person_id, e.concept_id, e.event_date, e.value_as_number, \
                 e.value_as_concept_id,\n  \
                 e.visit_occurrence_id, v.visit_concept_id,\n  \
                 p.year_of_birth, p.month_of_birth, p.day_of_birth\n\
                 FROM (\n{union}\n) AS e\n\
                 JOIN {} ON p.person_id = e.person_id\n\
                 LEFT JOIN {} ON v.visit_occurrence_id = e.visit_occurrence_id",
                self.table_as("person", Some("p")),
                self.table_as("visit_occurrence", Some("v"))
            ),
        )
    }

    fn criterion(&self, c: &Criterion, n: usize, label: &str, mention: Mention) -> CritSql {
        let name = format!("c{n}");
        if c.kind.is_event() {
            return self.event_criterion(c, name, label, mention);
        }
        let mut needs = Needs::default();
        let person = self.table_as("person", Some("p"));
        let (what, body) = match &c.kind {
            CriterionKind::Age { basis, min, max } => {
                let (from, d) = match basis {
                    AgeBasis::Current => (person, date(self.today)),
                    AgeBasis::AtConsent => {
                        needs.consent = true;
                        (
                            format!("{person}\nJOIN consent AS c ON c.person_id = p.person_id"),
                            "c.consent_date".to_owned(),
                        )
                    }
                    AgeBasis::AtCdr => {
                        needs.cdr_date = true;
                        (
                            format!("{person}\nCROSS JOIN cdr_date AS d"),
                            "d.cdr_date".to_owned(),
                        )
                    }
                };
                let on = match basis {
                    AgeBasis::Current => format!(" (on {})", self.today.format("%Y-%m-%d")),
                    _ => String::new(),
                };
                (
                    format!("{} {min} to {max}{on}", basis.label()),
                    format!(
                        "SELECT p.person_id\nFROM {from}\nWHERE ({}\n) BETWEEN {min} AND {max}",
                        age_at(&d, "p", "")
                    ),
                )
            }
            CriterionKind::Deceased {} => (
                "Deceased: a death row".to_owned(),
                format!(
                    "SELECT p.person_id\nFROM {person}\n\
                     WHERE p.person_id IN (SELECT person_id FROM {})",
                    self.table("death")
                ),
            ),
            CriterionKind::Ethnicity { concept_ids } => {
                self.person_column("Ethnicity", "ethnicity_concept_id", concept_ids)
            }
            CriterionKind::GenderIdentity { concept_ids } => {
                self.person_column("Gender Identity", "gender_concept_id", concept_ids)
            }
            CriterionKind::Race { concept_ids } => {
                self.person_column("Race", "race_concept_id", concept_ids)
            }
            CriterionKind::SexAtBirth { concept_ids } => (
                format!(
                    "Sex Assigned at Birth {}: an observation with this value concept",
                    ids_text(concept_ids)
                ),
                format!(
                    "SELECT p.person_id\nFROM {person}\n\
                     WHERE p.person_id IN (\n  \
                     SELECT person_id FROM {} WHERE {}\n)",
                    self.table("observation"),
                    in_list("value_as_concept_id", concept_ids)
                ),
            ),
            CriterionKind::HasEhrData {} => {
                needs.events = true;
                let domains: Vec<String> = EHR_DOMAINS.iter().map(|d| format!("'{d}'")).collect();
                (
                    format!(
                        "Has EHR data: an event of a concept in the {} domains",
                        EHR_DOMAINS.join(", ")
                    ),
                    format!(
                        "SELECT DISTINCT e.person_id\nFROM events AS e\n\
                         WHERE e.concept_id IN (\n  \
                         SELECT concept_id FROM {} WHERE domain_id IN ({})\n)",
                        self.table("concept"),
                        domains.join(", ")
                    ),
                )
            }
            CriterionKind::Survey { .. }
            | CriterionKind::PhysicalMeasurement { .. }
            | CriterionKind::Domain { .. } => unreachable!("event criteria handled above"),
        };
        CritSql {
            id: c.id.clone(),
            ctes: vec![Cte::new(name.clone(), format!("{label}: {what}"), body)],
            name,
            needs,
            events: false,
        }
    }

    fn person_column(&self, what: &str, col: &str, ids: &[ConceptId]) -> (String, String) {
        (
            format!("{what} {}", ids_text(ids)),
            format!(
                "SELECT p.person_id\nFROM {}\nWHERE {}",
                self.table_as("person", Some("p")),
                in_list(&format!("p.{col}"), ids)
            ),
        )
    }

    /// `e.concept_id = X` or `e.concept_id IN (…)` for an event criterion's base concepts.
    fn base_concepts(&self, kind: &CriterionKind) -> (String, String) {
        let ancestor = self.table("concept_ancestor");
        match kind {
            CriterionKind::Domain {
                domain,
                concept_id,
                include_descendants: true,
                ..
            } => (
                format!(
                    "e.concept_id IN (\n  SELECT {concept_id} AS concept_id\n  UNION\n  \
                     SELECT descendant_concept_id FROM {ancestor} \
                     WHERE ancestor_concept_id = {concept_id}\n)"
                ),
                format!("{} {concept_id} and descendants", domain.label()),
            ),
            CriterionKind::Domain {
                domain, concept_id, ..
            } => (
                format!("e.concept_id = {concept_id}"),
                format!("{} {concept_id}", domain.label()),
            ),
            CriterionKind::PhysicalMeasurement { concept_id, .. } => (
                format!("e.concept_id = {concept_id}"),
                format!("Physical Measurements {concept_id}"),
            ),
            CriterionKind::Survey {
                answer_concept_id: Some(a),
                question_concept_id,
                module_concept_id,
            } => {
                let q = question_concept_id.map_or(String::new(), |q| format!(", question {q}"));
                (
                    format!("e.concept_id = {a}"),
                    format!("Surveys: module {module_concept_id}{q}, answer {a}"),
                )
            }
            CriterionKind::Survey {
                question_concept_id: Some(q),
                module_concept_id,
                ..
            } => (
                format!("e.concept_id = {q}"),
                format!("Surveys: module {module_concept_id}, question {q}"),
            ),
            CriterionKind::Survey {
                module_concept_id: m,
                ..
            } => (
                format!(
                    "e.concept_id IN (\n  \
                     SELECT descendant_concept_id FROM {ancestor}\n  \
                     WHERE ancestor_concept_id = {m}\n    \
                     AND descendant_concept_id IN (\n      \
                     SELECT concept_id FROM {} WHERE concept_class_id = 'Question'\n    )\n)",
                    self.table("concept")
                ),
                format!("Surveys: module {m}, its questions"),
            ),
            _ => unreachable!("not an event criterion"),
        }
    }

    fn event_criterion(
        &self,
        c: &Criterion,
        name: String,
        label: &str,
        mention: Mention,
    ) -> CritSql {
        let (concepts, what) = self.base_concepts(&c.kind);
        let value = match &c.kind {
            CriterionKind::Domain { value, .. }
            | CriterionKind::PhysicalMeasurement { value, .. } => value.as_ref().map(value_filter),
            _ => None,
        };
        let m = &c.modifiers;
        let modifiers = modifier_conditions(m);
        let mention_step = match mention {
            Mention::AnyMention => None,
            Mention::FirstMention => Some(("first", "MIN", "earliest")),
            Mention::LastMention => Some(("last", "MAX", "latest")),
        };
        let steps = 1
            + usize::from(mention_step.is_some())
            + usize::from(!modifiers.is_empty())
            + usize::from(m.occurrences_at_least.is_some());
        let mut ctes: Vec<Cte> = Vec::new();
        let next_name = |suffix: &str, ctes: &Vec<Cte>| {
            if ctes.len() + 1 == steps {
                name.clone()
            } else {
                format!("{name}_{suffix}")
            }
        };
        let short = format!("\"{}\"", escape_id(&c.id));

        // 1. Base events.
        let mut conds = vec![concepts];
        let mut what = what;
        if let Some((cond, text)) = value {
            conds.push(cond);
            what = format!("{what}, {text}");
        }
        let base = next_name("base", &ctes);
        ctes.push(Cte::new(
            base,
            format!("{label}: {what}"),
            format!(
                "SELECT e.*\nFROM events AS e\nWHERE {}",
                conds.join("\n  AND ")
            ),
        ));
        // 2. The group's mention.
        if let Some((suffix, agg, which)) = mention_step {
            let prev = ctes.last().expect("base").name.clone();
            let n = next_name(suffix, &ctes);
            ctes.push(Cte::new(
                n,
                format!(
                    "criterion {short}: {suffix} mention, the events on the person's {which} \
                     base-event date (ties kept)"
                ),
                format!(
                    "SELECT e.*\nFROM {prev} AS e\n\
                     JOIN (SELECT person_id, {agg}(event_date) AS event_date FROM {prev} \
                     GROUP BY person_id) AS m\n  \
                     ON m.person_id = e.person_id AND m.event_date = e.event_date"
                ),
            ));
        }
        // 3. Age at event, event date, visit type.
        if !modifiers.is_empty() {
            let prev = ctes.last().expect("base").name.clone();
            let n = next_name("modified", &ctes);
            let (conds, texts): (Vec<String>, Vec<String>) = modifiers.into_iter().unzip();
            ctes.push(Cte::new(
                n,
                format!("criterion {short}: modifiers: {}", texts.join("; ")),
                format!(
                    "SELECT e.*\nFROM {prev} AS e\nWHERE {}",
                    conds.join("\n  AND ")
                ),
            ));
        }
        // 4. Occurrence dates.
        if let Some(k) = m.occurrences_at_least {
            let prev = ctes.last().expect("base").name.clone();
            let n = next_name("occurrences", &ctes);
            ctes.push(Cte::new(
                n,
                format!(
                    "criterion {short}: the persons' events if they fall on at least {k} \
                     distinct dates"
                ),
                format!(
                    "SELECT e.*\nFROM {prev} AS e\n\
                     WHERE e.person_id IN (\n  \
                     SELECT person_id FROM {prev}\n  GROUP BY person_id\n  \
                     HAVING COUNT(DISTINCT event_date) >= {k}\n)"
                ),
            ));
        }
        CritSql {
            id: c.id.clone(),
            name,
            ctes,
            needs: Needs {
                events: true,
                ..Needs::default()
            },
            events: true,
        }
    }

    fn group(
        &self,
        g: &Group,
        num: usize,
        place: &str,
        own: Vec<usize>,
        second: Vec<usize>,
        crits: &[CritSql],
    ) -> GroupSql {
        let name = format!("g{num}");
        let mut ctes = Vec::new();
        match &g.temporal {
            None => {
                let body = if own.is_empty() {
                    format!("SELECT person_id FROM {} WHERE FALSE", self.table("person"))
                } else {
                    own.iter()
                        .map(|&i| format!("SELECT person_id FROM {}", crits[i].name))
                        .collect::<Vec<_>>()
                        .join("\nUNION\n")
                };
                ctes.push(Cte::new(
                    name.clone(),
                    format!("{place}: the persons of any of its criteria"),
                    body,
                ));
            }
            Some(t) => {
                let same_visit = matches!(t.kind, TemporalKind::DuringSameEncounter {});
                let list = |idx: &[usize]| {
                    let (col, ty, filter) = if same_visit {
                        (
                            "visit_occurrence_id",
                            "BIGINT",
                            " WHERE visit_occurrence_id IS NOT NULL",
                        )
                    } else {
                        ("event_date", "DATE", "")
                    };
                    let parts: Vec<String> = idx
                        .iter()
                        .filter(|&&i| crits[i].events)
                        .map(|&i| format!("SELECT person_id, {col} FROM {}{filter}", crits[i].name))
                        .collect();
                    if parts.is_empty() {
                        format!(
                            "SELECT CAST(NULL AS BIGINT) AS person_id, CAST(NULL AS {ty}) AS {col} WHERE FALSE"
                        )
                    } else {
                        parts.join("\nUNION\n")
                    }
                };
                let what = if same_visit { "visits" } else { "event dates" };
                ctes.push(Cte::new(
                    format!("{name}_first"),
                    format!("{place}: the {what} of its criteria"),
                    list(&own),
                ));
                ctes.push(Cte::new(
                    format!("{name}_second"),
                    format!("{place}: the {what} of its temporal second list"),
                    list(&second),
                ));
                let days = |d: i64| i128::from(d).to_string();
                let (on, cond, text) = match t.kind {
                    TemporalKind::DuringSameEncounter {} => (
                        " AND b.visit_occurrence_id = a.visit_occurrence_id",
                        None,
                        "during the same visit as".to_owned(),
                    ),
                    TemporalKind::XOrMoreDaysBefore { days: d } => (
                        "",
                        Some(format!("b.event_date - a.event_date >= {}", days(d))),
                        format!("{d} or more days before"),
                    ),
                    TemporalKind::XOrMoreDaysAfter { days: d } => (
                        "",
                        Some(format!("a.event_date - b.event_date >= {}", days(d))),
                        format!("{d} or more days after"),
                    ),
                    TemporalKind::WithinXDays { days: d } => (
                        "",
                        Some(format!(
                            "b.event_date - a.event_date BETWEEN {} AND {}",
                            -i128::from(d),
                            days(d)
                        )),
                        format!("on or within {d} days of"),
                    ),
                };
                let cond = cond.map_or(String::new(), |c| format!("\nWHERE {c}"));
                ctes.push(Cte::new(
                    name.clone(),
                    format!(
                        "{place}: an event of its criteria {text} an event of its second list \
                         (days are date(second) - date(first))"
                    ),
                    format!(
                        "SELECT DISTINCT a.person_id\nFROM {name}_first AS a\n\
                         JOIN {name}_second AS b ON b.person_id = a.person_id{on}{cond}"
                    ),
                ));
            }
        }
        GroupSql {
            id: g.id.clone(),
            name,
            crits: own.into_iter().chain(second).collect(),
            ctes,
            suppressed: g.suppressed,
            exclude: false,
        }
    }

    fn total(&self, groups: &[GroupSql], crits: &[CritSql]) -> String {
        let counted = |exclude: bool| -> Vec<&GroupSql> {
            groups
                .iter()
                .filter(|g| g.exclude == exclude && !g.suppressed)
                .collect()
        };
        let (inc, exc) = (counted(false), counted(true));
        let mut needs = Needs::default();
        let mut ctes: Vec<&Cte> = Vec::new();
        for g in inc.iter().chain(exc.iter()) {
            let (n, c) = g.ctes(crits);
            needs = needs.or(n);
            ctes.extend(c);
        }
        let names = |gs: &[&GroupSql]| gs.iter().map(|g| g.name.clone()).collect::<Vec<_>>();
        let included = if inc.is_empty() {
            Cte::new(
                "included",
                "every include group is suppressed: every person",
                format!("SELECT person_id FROM {}", self.table("person")),
            )
        } else {
            Cte::new(
                "included",
                format!(
                    "the persons in every include group that is not suppressed ({})",
                    names(&inc).join(", ")
                ),
                inc.iter()
                    .map(|g| format!("SELECT person_id FROM {}", g.name))
                    .collect::<Vec<_>>()
                    .join("\nINTERSECT\n"),
            )
        };
        ctes.push(&included);
        let excluded;
        let select = if exc.is_empty() {
            "SELECT DISTINCT person_id FROM included".to_owned()
        } else {
            excluded = Cte::new(
                "excluded",
                format!(
                    "the persons in any exclude group that is not suppressed ({})",
                    names(&exc).join(", ")
                ),
                exc.iter()
                    .map(|g| format!("SELECT person_id FROM {}", g.name))
                    .collect::<Vec<_>>()
                    .join("\nUNION\n"),
            );
            ctes.push(&excluded);
            "SELECT person_id FROM included\nEXCEPT\nSELECT person_id FROM excluded".to_owned()
        };
        self.query(needs, &ctes, &select)
    }
}

/// The conditions of "Age At Event", "Event Date" and "During Visit Type", with their text.
fn modifier_conditions(m: &Modifiers) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(AgeRange { min, max }) = m.age_at_event {
        let age = age_at("e.event_date", "e", "  ");
        let (cond, text) = match (min, max) {
            (Some(a), Some(b)) => (
                format!("({age}\n  ) BETWEEN {a} AND {b}"),
                format!("age at event {a} to {b}"),
            ),
            (Some(a), None) => (
                format!("({age}\n  ) >= {a}"),
                format!("age at event {a} or more"),
            ),
            (None, Some(b)) => (
                format!("({age}\n  ) <= {b}"),
                format!("age at event at most {b}"),
            ),
            (None, None) => ("TRUE".into(), "age at event, any".into()),
        };
        out.push((cond, text));
    }
    if let Some(f) = m.event_date {
        let fmt = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        out.push(match f {
            DateFilter::OnOrBefore { date: d } => (
                format!("e.event_date <= {}", date(d)),
                format!("event date on or before {}", fmt(d)),
            ),
            DateFilter::OnOrAfter { date: d } => (
                format!("e.event_date >= {}", date(d)),
                format!("event date on or after {}", fmt(d)),
            ),
            DateFilter::Between { start, end } => (
                format!("e.event_date BETWEEN {} AND {}", date(start), date(end)),
                format!("event date between {} and {}", fmt(start), fmt(end)),
            ),
        });
    }
    if let Some(visits) = &m.during_visit_type {
        out.push((
            in_list("e.visit_concept_id", visits),
            format!("during visit type {}", ids_text(visits)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::path::PathBuf;
    use std::sync::OnceLock;

    use datafusion::arrow::array::{Array, ArrayRef};
    use datafusion::arrow::datatypes::{Date32Type, Float64Type};
    use wb_domain::cohort::{Domain, Temporal};

    use crate::events::{HBA1C, INSULIN, METFORMIN, SYSTOLIC_BP, TYPE_2_DIABETES};
    use crate::generate::{GenerateConfig, ParquetSink, generate};
    use crate::persons::{ASIAN, FEMALE, HISPANIC, WHITE};
    use crate::rows::{TableRows, Val};
    use crate::vocabulary::{
        SYNTHETIC_ID_BASE, survey_answer_id, survey_module_id, survey_question_id,
    };

    const INPATIENT: i64 = 9201;
    const OUTPATIENT: i64 = 9202;
    const EMERGENCY: i64 = 9203;
    const BMI: i64 = crate::events::BMI;
    const CONDITION_ROOT: i64 = SYNTHETIC_ID_BASE;
    const DIABETES: i64 = 201820;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// "Today" of the generated-CDR tests: years after the CDR date, so the three age bases
    /// differ.
    fn today() -> NaiveDate {
        day(2030, 1, 1)
    }

    fn days(d: NaiveDate) -> i32 {
        (d - day(1970, 1, 1)).num_days() as i32
    }

    fn ymd(d: i32) -> (i64, i64, i64) {
        let d = day(1970, 1, 1) + chrono::Duration::days(i64::from(d));
        (
            i64::from(d.year()),
            i64::from(d.month()),
            i64::from(d.day()),
        )
    }

    // -----------------------------------------------------------------------------------------
    // The reference: the evaluation text of docs/cohort-definition.md in plain Rust, over the
    // rows of the Parquet files.
    // -----------------------------------------------------------------------------------------

    #[derive(Debug, Clone, PartialEq)]
    enum V {
        I(i64),
        F(f64),
        D(i32),
        S(String),
        N,
    }

    impl V {
        fn i(&self) -> Option<i64> {
            match self {
                V::I(v) => Some(*v),
                V::N => None,
                v => panic!("not an integer: {v:?}"),
            }
        }
        fn f(&self) -> Option<f64> {
            match self {
                V::F(v) => Some(*v),
                V::N => None,
                v => panic!("not a float: {v:?}"),
            }
        }
        fn d(&self) -> i32 {
            match self {
                V::D(v) => *v,
                v => panic!("not a date: {v:?}"),
            }
        }
        fn s(&self) -> String {
            match self {
                V::S(v) => v.clone(),
                v => panic!("not text: {v:?}"),
            }
        }
    }

    fn cell(a: &ArrayRef, i: usize) -> V {
        if a.is_null(i) {
            return V::N;
        }
        match a.data_type() {
            DataType::Int64 => V::I(a.as_primitive::<Int64Type>().value(i)),
            DataType::Float64 => V::F(a.as_primitive::<Float64Type>().value(i)),
            DataType::Date32 => V::D(a.as_primitive::<Date32Type>().value(i)),
            DataType::Utf8 => V::S(a.as_string::<i32>().value(i).to_owned()),
            t => panic!("unexpected type {t}"),
        }
    }

    /// The rows of `table`'s `cols` (none when the file is absent).
    fn read(dir: &Path, table: &str, cols: &[&str]) -> Vec<Vec<V>> {
        let t = schema::table(table).unwrap();
        let path = dir.join(format!("{table}.parquet"));
        if !path.exists() {
            return Vec::new();
        }
        let spec: Vec<(&str, DataType)> = cols
            .iter()
            .map(|c| (*c, t.column(c).unwrap().kind.arrow()))
            .collect();
        let mut rows = Vec::new();
        crate::parquet_in::scan(&path, &spec, |arrays| {
            for i in 0..arrays[0].len() {
                rows.push(arrays.iter().map(|a| cell(a, i)).collect());
            }
            Ok(())
        })
        .unwrap();
        rows
    }

    #[derive(Debug)]
    struct Person {
        yob: i64,
        mob: Option<i64>,
        dob: Option<i64>,
        gender: i64,
        race: i64,
        ethnicity: i64,
    }

    #[derive(Debug, Clone)]
    struct Event {
        person: i64,
        concept: i64,
        date: i32,
        value: Option<f64>,
        value_concept: Option<i64>,
        visit: Option<i64>,
        visit_concept: Option<i64>,
    }

    struct Cdr {
        dir: PathBuf,
        persons: BTreeMap<i64, Person>,
        events: Vec<Event>,
        /// concept id → (domain_id, concept_class_id)
        concepts: HashMap<i64, (String, String)>,
        /// ancestor → descendants (as concept_ancestor lists them)
        descendants: HashMap<i64, HashSet<i64>>,
        cdr_date: Option<i32>,
        consent: HashMap<i64, i32>,
        /// (person, value_as_concept_id) of every observation row
        observation_values: Vec<(i64, Option<i64>)>,
        deaths: HashSet<i64>,
        today: NaiveDate,
    }

    type Set = BTreeSet<i64>;

    impl Cdr {
        fn load(dir: &Path, today: NaiveDate) -> Cdr {
            let persons: BTreeMap<i64, Person> = read(
                dir,
                "person",
                &[
                    "person_id",
                    "year_of_birth",
                    "month_of_birth",
                    "day_of_birth",
                    "gender_concept_id",
                    "race_concept_id",
                    "ethnicity_concept_id",
                ],
            )
            .into_iter()
            .map(|r| {
                (
                    r[0].i().unwrap(),
                    Person {
                        yob: r[1].i().unwrap(),
                        mob: r[2].i(),
                        dob: r[3].i(),
                        gender: r[4].i().unwrap(),
                        race: r[5].i().unwrap(),
                        ethnicity: r[6].i().unwrap(),
                    },
                )
            })
            .collect();
            let concepts: HashMap<i64, (String, String)> = read(
                dir,
                "concept",
                &["concept_id", "domain_id", "concept_class_id"],
            )
            .into_iter()
            .map(|r| (r[0].i().unwrap(), (r[1].s(), r[2].s())))
            .collect();
            let mut descendants: HashMap<i64, HashSet<i64>> = HashMap::new();
            for r in read(
                dir,
                "concept_ancestor",
                &["ancestor_concept_id", "descendant_concept_id"],
            ) {
                descendants
                    .entry(r[0].i().unwrap())
                    .or_default()
                    .insert(r[1].i().unwrap());
            }
            let visits: HashMap<i64, i64> = read(
                dir,
                "visit_occurrence",
                &["visit_occurrence_id", "visit_concept_id"],
            )
            .into_iter()
            .map(|r| (r[0].i().unwrap(), r[1].i().unwrap()))
            .collect();
            // Events: every row of an event table, and every observation's answer.
            let mut events = Vec::new();
            for t in schema::EVENT_TABLES {
                let has = |c: &str| t.column(c).is_some();
                let mut cols = vec![
                    "person_id",
                    t.event_concept.unwrap(),
                    t.event_date.unwrap(),
                    "visit_occurrence_id",
                ];
                if has("value_as_number") {
                    cols.push("value_as_number");
                }
                if has("value_as_concept_id") {
                    cols.push("value_as_concept_id");
                }
                for r in read(dir, t.name, &cols) {
                    let get = |name: &str| cols.iter().position(|c| *c == name).map(|i| &r[i]);
                    let visit = r[3].i();
                    let base = Event {
                        person: r[0].i().unwrap(),
                        concept: r[1].i().unwrap(),
                        date: r[2].d(),
                        value: get("value_as_number").and_then(V::f),
                        value_concept: get("value_as_concept_id").and_then(V::i),
                        visit,
                        visit_concept: visit.and_then(|v| visits.get(&v).copied()),
                    };
                    if t.name == "observation"
                        && let Some(answer) = base.value_concept
                    {
                        events.push(Event {
                            concept: answer,
                            value: None,
                            value_concept: None,
                            ..base.clone()
                        });
                    }
                    events.push(base);
                }
            }
            events.retain(|e| persons.contains_key(&e.person));
            let cdr_date = read(dir, "observation_period", &["observation_period_end_date"])
                .iter()
                .map(|r| r[0].d())
                .max();
            let mut consent: HashMap<i64, i32> = HashMap::new();
            let mut observation_values = Vec::new();
            for r in read(
                dir,
                "observation",
                &[
                    "person_id",
                    "observation_concept_id",
                    "observation_date",
                    "value_as_concept_id",
                ],
            ) {
                let (p, c, d) = (r[0].i().unwrap(), r[1].i().unwrap(), r[2].d());
                observation_values.push((p, r[3].i()));
                if concepts
                    .get(&c)
                    .is_some_and(|(_, class)| class == "Question")
                {
                    let e = consent.entry(p).or_insert(d);
                    *e = (*e).min(d);
                }
            }
            let deaths = read(dir, "death", &["person_id"])
                .iter()
                .map(|r| r[0].i().unwrap())
                .collect();
            Cdr {
                dir: dir.to_owned(),
                persons,
                events,
                concepts,
                descendants,
                cdr_date,
                consent,
                observation_values,
                deaths,
                today,
            }
        }

        fn all(&self) -> Set {
            self.persons.keys().copied().collect()
        }

        fn age(&self, person: i64, d: i32) -> Option<i64> {
            let p = self.persons.get(&person)?;
            let (y, m, dd) = ymd(d);
            let before = (m, dd) < (p.mob.unwrap_or(1), p.dob.unwrap_or(1));
            Some(y - p.yob - i64::from(before))
        }

        fn passes(v: &ValueFilter, e: &Event) -> bool {
            let num = |f: &dyn Fn(f64) -> bool| e.value.is_some_and(f);
            match v {
                ValueFilter::Equal { value } => num(&|x| x == *value),
                ValueFilter::NotEqual { value } => num(&|x| x != *value),
                ValueFilter::LessThan { value } => num(&|x| x < *value),
                ValueFilter::GreaterThan { value } => num(&|x| x > *value),
                ValueFilter::LessThanOrEqualTo { value } => num(&|x| x <= *value),
                ValueFilter::GreaterThanOrEqualTo { value } => num(&|x| x >= *value),
                ValueFilter::Between { min, max } => num(&|x| *min <= x && x <= *max),
                ValueFilter::In { value_concept_ids } => e
                    .value_concept
                    .is_some_and(|c| value_concept_ids.contains(&c)),
            }
        }

        fn base(&self, kind: &CriterionKind) -> Vec<Event> {
            let desc = |c: i64| self.descendants.get(&c).cloned().unwrap_or_default();
            let (concepts, value): (HashSet<i64>, Option<&ValueFilter>) = match kind {
                CriterionKind::Domain {
                    concept_id,
                    include_descendants,
                    value,
                    ..
                } => {
                    let mut s = HashSet::from([*concept_id]);
                    if *include_descendants {
                        s.extend(desc(*concept_id));
                    }
                    (s, value.as_ref())
                }
                CriterionKind::PhysicalMeasurement { concept_id, value } => {
                    (HashSet::from([*concept_id]), value.as_ref())
                }
                CriterionKind::Survey {
                    module_concept_id,
                    question_concept_id,
                    answer_concept_id,
                } => match (answer_concept_id, question_concept_id) {
                    (Some(a), _) => (HashSet::from([*a]), None),
                    (None, Some(q)) => (HashSet::from([*q]), None),
                    (None, None) => (
                        desc(*module_concept_id)
                            .into_iter()
                            .filter(|c| {
                                self.concepts
                                    .get(c)
                                    .is_some_and(|(_, class)| class == "Question")
                            })
                            .collect(),
                        None,
                    ),
                },
                _ => panic!("not an event criterion"),
            };
            self.events
                .iter()
                .filter(|e| concepts.contains(&e.concept))
                .filter(|e| value.is_none_or(|v| Self::passes(v, e)))
                .cloned()
                .collect()
        }

        /// The criterion's events: base events, then the mention, the modifiers and the
        /// occurrence count, in the text's order.
        fn criterion_events(&self, c: &Criterion, mention: Mention) -> Vec<Event> {
            let mut evs = self.base(&c.kind);
            if mention != Mention::AnyMention {
                let mut pick: HashMap<i64, i32> = HashMap::new();
                for e in &evs {
                    let d = pick.entry(e.person).or_insert(e.date);
                    *d = if mention == Mention::FirstMention {
                        (*d).min(e.date)
                    } else {
                        (*d).max(e.date)
                    };
                }
                evs.retain(|e| pick[&e.person] == e.date);
            }
            let m = &c.modifiers;
            if let Some(AgeRange { min, max }) = m.age_at_event {
                evs.retain(|e| {
                    let a = self.age(e.person, e.date).unwrap();
                    min.is_none_or(|x| a >= i64::from(x)) && max.is_none_or(|x| a <= i64::from(x))
                });
            }
            if let Some(f) = m.event_date {
                evs.retain(|e| match f {
                    DateFilter::OnOrBefore { date } => e.date <= days(date),
                    DateFilter::OnOrAfter { date } => e.date >= days(date),
                    DateFilter::Between { start, end } => {
                        days(start) <= e.date && e.date <= days(end)
                    }
                });
            }
            if let Some(visits) = &m.during_visit_type {
                evs.retain(|e| e.visit_concept.is_some_and(|v| visits.contains(&v)));
            }
            if let Some(n) = m.occurrences_at_least {
                let mut dates: HashMap<i64, HashSet<i32>> = HashMap::new();
                for e in &evs {
                    dates.entry(e.person).or_default().insert(e.date);
                }
                evs.retain(|e| dates[&e.person].len() >= n as usize);
            }
            evs
        }

        fn criterion(&self, c: &Criterion, mention: Mention) -> Set {
            let persons = |f: &dyn Fn(&Person) -> bool| -> Set {
                self.persons
                    .iter()
                    .filter(|(_, p)| f(p))
                    .map(|(id, _)| *id)
                    .collect()
            };
            match &c.kind {
                CriterionKind::Age { basis, min, max } => self
                    .persons
                    .keys()
                    .copied()
                    .filter(|id| {
                        let at = match basis {
                            AgeBasis::Current => Some(days(self.today)),
                            AgeBasis::AtConsent => self.consent.get(id).copied(),
                            AgeBasis::AtCdr => self.cdr_date,
                        };
                        at.and_then(|d| self.age(*id, d))
                            .is_some_and(|a| i64::from(*min) <= a && a <= i64::from(*max))
                    })
                    .collect(),
                CriterionKind::Deceased {} => self
                    .deaths
                    .iter()
                    .copied()
                    .filter(|p| self.persons.contains_key(p))
                    .collect(),
                CriterionKind::Ethnicity { concept_ids } => {
                    persons(&|p| concept_ids.contains(&p.ethnicity))
                }
                CriterionKind::GenderIdentity { concept_ids } => {
                    persons(&|p| concept_ids.contains(&p.gender))
                }
                CriterionKind::Race { concept_ids } => persons(&|p| concept_ids.contains(&p.race)),
                CriterionKind::SexAtBirth { concept_ids } => self
                    .observation_values
                    .iter()
                    .filter(|(_, v)| v.is_some_and(|v| concept_ids.contains(&v)))
                    .map(|(p, _)| *p)
                    .filter(|p| self.persons.contains_key(p))
                    .collect(),
                CriterionKind::HasEhrData {} => self
                    .events
                    .iter()
                    .filter(|e| {
                        self.concepts
                            .get(&e.concept)
                            .is_some_and(|(d, _)| EHR_DOMAINS.contains(&d.as_str()))
                    })
                    .map(|e| e.person)
                    .collect(),
                _ => self
                    .criterion_events(c, mention)
                    .iter()
                    .map(|e| e.person)
                    .collect(),
            }
        }

        fn group(&self, g: &Group) -> Set {
            let Some(t) = &g.temporal else {
                return g
                    .criteria
                    .iter()
                    .flat_map(|c| self.criterion(c, g.mention))
                    .collect();
            };
            let by_person = |list: &[Criterion], mention| {
                let mut m: HashMap<i64, Vec<Event>> = HashMap::new();
                for c in list {
                    for e in self.criterion_events(c, mention) {
                        m.entry(e.person).or_default().push(e);
                    }
                }
                m
            };
            let first = by_person(&g.criteria, g.mention);
            let second = by_person(&t.second, Mention::AnyMention);
            let holds = |e1: &Event, e2: &Event| {
                let diff = i64::from(e2.date) - i64::from(e1.date);
                match t.kind {
                    TemporalKind::DuringSameEncounter {} => {
                        e1.visit.is_some() && e1.visit == e2.visit
                    }
                    TemporalKind::XOrMoreDaysBefore { days } => diff >= days,
                    TemporalKind::XOrMoreDaysAfter { days } => -diff >= days,
                    TemporalKind::WithinXDays { days } => diff.abs() <= days,
                }
            };
            first
                .iter()
                .filter(|(p, e1s)| {
                    second
                        .get(p)
                        .is_some_and(|e2s| e1s.iter().any(|e1| e2s.iter().any(|e2| holds(e1, e2))))
                })
                .map(|(p, _)| *p)
                .collect()
        }

        fn total(&self, def: &CohortDefinition) -> Set {
            let inc: Vec<Set> = def
                .include
                .iter()
                .filter(|g| !g.suppressed)
                .map(|g| self.group(g))
                .collect();
            let mut out = if inc.is_empty() {
                self.all()
            } else {
                inc.iter()
                    .skip(1)
                    .fold(inc[0].clone(), |a, b| a.intersection(b).copied().collect())
            };
            for g in def.exclude.iter().filter(|g| !g.suppressed) {
                for p in self.group(g) {
                    out.remove(&p);
                }
            }
            out
        }
    }

    // -----------------------------------------------------------------------------------------
    // Definitions
    // -----------------------------------------------------------------------------------------

    fn crit(id: &str, kind: CriterionKind) -> Criterion {
        Criterion {
            id: id.into(),
            kind,
            modifiers: Modifiers::default(),
        }
    }

    fn with(mut c: Criterion, modifiers: Modifiers) -> Criterion {
        c.modifiers = modifiers;
        c
    }

    fn domain(domain: Domain, concept_id: i64, include_descendants: bool) -> CriterionKind {
        CriterionKind::Domain {
            domain,
            concept_id,
            include_descendants,
            value: None,
        }
    }

    fn lab(concept_id: i64, value: ValueFilter) -> CriterionKind {
        CriterionKind::Domain {
            domain: Domain::Measurement,
            concept_id,
            include_descendants: true,
            value: Some(value),
        }
    }

    fn t2d() -> CriterionKind {
        domain(Domain::Condition, TYPE_2_DIABETES, true)
    }

    fn group(id: &str, criteria: Vec<Criterion>) -> Group {
        Group {
            id: id.into(),
            criteria,
            mention: Mention::AnyMention,
            temporal: None,
            suppressed: false,
        }
    }

    fn mention(mut g: Group, m: Mention) -> Group {
        g.mention = m;
        g
    }

    fn temporal(mut g: Group, kind: TemporalKind, second: Vec<Criterion>) -> Group {
        g.temporal = Some(Temporal { kind, second });
        g
    }

    fn suppressed(mut g: Group) -> Group {
        g.suppressed = true;
        g
    }

    fn one(c: Criterion) -> CohortDefinition {
        CohortDefinition {
            include: vec![group("g", vec![c])],
            exclude: vec![],
        }
    }

    fn one_group(g: Group) -> CohortDefinition {
        CohortDefinition {
            include: vec![g],
            exclude: vec![],
        }
    }

    /// What a case's total may be.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Expect {
        /// Some persons but not all: the comparison could tell a wrong answer.
        Some,
        /// Nobody (a case about an empty result).
        Empty,
    }

    /// Compiles `def`, runs the total, every group and every criterion, and compares each with
    /// the reference. Returns the total.
    async fn check(
        ctx: &SessionContext,
        cdr: &Cdr,
        name: &str,
        def: &CohortDefinition,
        expect: Expect,
    ) -> Set {
        check_parts(ctx, cdr, name, def, expect, true).await
    }

    /// [`check`], the groups and criteria only with `parts`.
    async fn check_parts(
        ctx: &SessionContext,
        cdr: &Cdr,
        name: &str,
        def: &CohortDefinition,
        expect: Expect,
        parts: bool,
    ) -> Set {
        let compiled = compile(def, cdr.today, &CdrTables::in_dir(&cdr.dir));
        let run = |sql: String| async move {
            persons(ctx, &sql)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}\n{sql}"))
                .into_iter()
                .collect::<Set>()
        };
        let total = run(compiled.total.clone()).await;
        let want = cdr.total(def);
        assert_eq!(total, want, "{name}: total\n{}", compiled.total);
        match expect {
            Expect::Some => assert!(
                !want.is_empty() && want.len() < cdr.persons.len(),
                "{name}: the case should select some persons but not all ({} of {})",
                want.len(),
                cdr.persons.len()
            ),
            Expect::Empty => assert!(want.is_empty(), "{name}: expected nobody"),
        }
        if !parts {
            return total;
        }
        let groups: Vec<&Group> = def.include.iter().chain(&def.exclude).collect();
        let single = groups.len() == 1 && !groups[0].suppressed && def.exclude.is_empty();
        for ((id, sql), g) in compiled.groups.iter().zip(&groups) {
            assert_eq!(id, &g.id);
            if single {
                continue; // the total is the group
            }
            assert_eq!(
                run(sql.clone()).await,
                cdr.group(g),
                "{name}: group {id}\n{sql}"
            );
        }
        let mut all = Vec::new();
        for g in &groups {
            all.extend(g.criteria.iter().map(|c| (c, g.mention)));
            all.extend(
                g.temporal
                    .iter()
                    .flat_map(|t| &t.second)
                    .map(|c| (c, Mention::AnyMention)),
            );
        }
        assert_eq!(compiled.criteria.len(), all.len());
        let single_criterion = single && all.len() == 1 && groups[0].temporal.is_none();
        for ((id, sql), (c, m)) in compiled.criteria.iter().zip(all) {
            assert_eq!(id, &c.id);
            if single_criterion || (single && m == Mention::AnyMention) {
                // The total is the criterion, or the criterion is a plain one of a single
                // group (plain criteria have their own cases).
                continue;
            }
            assert_eq!(
                run(sql.clone()).await,
                cdr.criterion(c, m),
                "{name}: criterion {id}\n{sql}"
            );
        }
        total
    }

    struct Fixture {
        _tmp: tempfile::TempDir,
        cdr: Cdr,
    }

    /// A small generated CDR, made once for every test of the module.
    fn fixture() -> &'static Cdr {
        static F: OnceLock<Fixture> = OnceLock::new();
        &F.get_or_init(|| {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("cdr");
            generate(
                &dir,
                &GenerateConfig {
                    seed: 5,
                    persons: 300,
                    concepts_per_domain: 500,
                    threads: 2,
                    chunk: 100,
                    ..Default::default()
                },
                &|_, _| {},
                &mut |_| Ok(()),
            )
            .unwrap();
            let cdr = Cdr::load(&dir, today());
            Fixture { _tmp: tmp, cdr }
        })
        .cdr
    }

    /// The most frequent event concept among `candidates`' events satisfying `f`.
    fn most_frequent(cdr: &Cdr, f: impl Fn(&Event) -> bool) -> i64 {
        let mut n: HashMap<i64, HashSet<i64>> = HashMap::new();
        for e in cdr.events.iter().filter(|e| f(e)) {
            n.entry(e.concept).or_default().insert(e.person);
        }
        n.into_iter()
            .max_by_key(|(c, p)| (p.len(), *c))
            .map(|(c, _)| c)
            .expect("a concept")
    }

    fn in_range(c: i64, domain_index: i64) -> bool {
        let base = SYNTHETIC_ID_BASE + domain_index * crate::vocabulary::DOMAIN_ID_SPAN;
        (base..base + crate::vocabulary::DOMAIN_ID_SPAN).contains(&c)
    }

    // -----------------------------------------------------------------------------------------
    // The generated CDR: every kind, modifier, mention and temporal relation against the
    // reference
    // -----------------------------------------------------------------------------------------

    #[tokio::test]
    async fn person_criteria_match_the_reference() {
        let cdr = fixture();
        let ctx = context(&cdr.dir).await.unwrap();
        let age = |basis| CriterionKind::Age {
            basis,
            min: 45,
            max: 60,
        };
        let mut by_basis = Vec::new();
        for basis in AgeBasis::ALL {
            by_basis.push(
                check(
                    &ctx,
                    cdr,
                    basis.label(),
                    &one(crit("c-age", age(basis))),
                    Expect::Some,
                )
                .await,
            );
        }
        assert!(
            by_basis[0] != by_basis[1] && by_basis[1] != by_basis[2] && by_basis[0] != by_basis[2],
            "the three bases take the age on different dates"
        );
        for (name, kind) in [
            ("deceased", CriterionKind::Deceased {}),
            (
                "ethnicity",
                CriterionKind::Ethnicity {
                    concept_ids: vec![HISPANIC],
                },
            ),
            (
                "gender",
                CriterionKind::GenderIdentity {
                    concept_ids: vec![FEMALE],
                },
            ),
            (
                "race",
                CriterionKind::Race {
                    concept_ids: vec![WHITE, ASIAN],
                },
            ),
            (
                "sex at birth: male",
                CriterionKind::SexAtBirth {
                    concept_ids: vec![survey_answer_id(0, 0, 1)],
                },
            ),
            ("has EHR data", CriterionKind::HasEhrData {}),
        ] {
            check(&ctx, cdr, name, &one(crit("c-1", kind)), Expect::Some).await;
        }
    }

    #[tokio::test]
    async fn survey_criteria_match_the_reference() {
        let cdr = fixture();
        let ctx = context(&cdr.dir).await.unwrap();
        for (name, module, question, answer) in [
            ("module Lifestyle", survey_module_id(1), None, None),
            (
                "question organ transplant",
                survey_module_id(2),
                Some(survey_question_id(2, 1)),
                None,
            ),
            (
                "answer smoked: yes",
                survey_module_id(1),
                Some(survey_question_id(1, 0)),
                Some(survey_answer_id(1, 0, 0)),
            ),
        ] {
            let kind = CriterionKind::Survey {
                module_concept_id: module,
                question_concept_id: question,
                answer_concept_id: answer,
            };
            check(&ctx, cdr, name, &one(crit("c-survey", kind)), Expect::Some).await;
        }
        // An answer is an event of the answer concept, whatever the domain criterion says.
        let answer = survey_answer_id(1, 0, 0);
        check(
            &ctx,
            cdr,
            "an answer as an observation concept",
            &one(crit("c-a", domain(Domain::Observation, answer, false))),
            Expect::Some,
        )
        .await;
    }

    #[tokio::test]
    async fn domain_criteria_and_value_filters_match_the_reference() {
        let cdr = fixture();
        let ctx = context(&cdr.dir).await.unwrap();
        let t2d = check(&ctx, cdr, "t2d", &one(crit("c", t2d())), Expect::Some).await;
        let diabetes = check(
            &ctx,
            cdr,
            "diabetes and descendants",
            &one(crit("c", domain(Domain::Condition, DIABETES, true))),
            Expect::Some,
        )
        .await;
        assert!(t2d.is_subset(&diabetes));
        // Diabetes itself is never recorded: only its descendants are.
        check(
            &ctx,
            cdr,
            "diabetes alone",
            &one(crit("c", domain(Domain::Condition, DIABETES, false))),
            Expect::Empty,
        )
        .await;
        let leaf = most_frequent(cdr, |e| in_range(e.concept, 0));
        check(
            &ctx,
            cdr,
            "a condition leaf",
            &one(crit("c", domain(Domain::Condition, leaf, false))),
            Expect::Some,
        )
        .await;
        // A mid-level concept: a child of the root with descendants events, none of its own.
        let mid = (1..50)
            .map(|n| CONDITION_ROOT + n)
            .find(|c| {
                cdr.descendants.get(c).is_some_and(|d| d.len() > 5)
                    && !cdr.events.iter().any(|e| e.concept == *c)
            })
            .expect("an inner concept");
        check(
            &ctx,
            cdr,
            "an inner concept with descendants",
            &one(crit("c", domain(Domain::Condition, mid, true))),
            Expect::Some,
        )
        .await;
        check(
            &ctx,
            cdr,
            "the condition root",
            &one(crit("c", domain(Domain::Condition, CONDITION_ROOT, true))),
            Expect::Some,
        )
        .await;
        check(
            &ctx,
            cdr,
            "insulin",
            &one(crit("c", domain(Domain::Drug, INSULIN, true))),
            Expect::Some,
        )
        .await;
        let drug = most_frequent(cdr, |e| in_range(e.concept, 1));
        check(
            &ctx,
            cdr,
            "a drug",
            &one(crit("c", domain(Domain::Drug, drug, false))),
            Expect::Some,
        )
        .await;
        let procedure = most_frequent(cdr, |e| in_range(e.concept, 3));
        check(
            &ctx,
            cdr,
            "a procedure",
            &one(crit("c", domain(Domain::Procedure, procedure, true))),
            Expect::Some,
        )
        .await;
        let observation = most_frequent(cdr, |e| in_range(e.concept, 4));
        check(
            &ctx,
            cdr,
            "an observation",
            &one(crit("c", domain(Domain::Observation, observation, true))),
            Expect::Some,
        )
        .await;
        let device = most_frequent(cdr, |e| in_range(e.concept, 5));
        check(
            &ctx,
            cdr,
            "a device",
            &one(crit("c", domain(Domain::Device, device, true))),
            Expect::Some,
        )
        .await;
        check(
            &ctx,
            cdr,
            "inpatient visits",
            &one(crit("c", domain(Domain::Visit, INPATIENT, false))),
            Expect::Some,
        )
        .await;

        // Values: every operator on HbA1c, around a value that occurs.
        let mut values: HashMap<u64, usize> = HashMap::new();
        for e in cdr.events.iter().filter(|e| e.concept == HBA1C) {
            *values.entry(e.value.unwrap().to_bits()).or_default() += 1;
        }
        let common = f64::from_bits(*values.iter().max_by_key(|(v, n)| (**n, **v)).unwrap().0);
        for (name, v) in [
            ("= common", ValueFilter::Equal { value: common }),
            ("<> common", ValueFilter::NotEqual { value: common }),
            ("< 5.4", ValueFilter::LessThan { value: 5.4 }),
            ("> 8.1", ValueFilter::GreaterThan { value: 8.1 }),
            (
                "<= common",
                ValueFilter::LessThanOrEqualTo { value: common },
            ),
            (">= 6.5", ValueFilter::GreaterThanOrEqualTo { value: 6.5 }),
            (
                "between 6.0 and 7.0",
                ValueFilter::Between { min: 6.0, max: 7.0 },
            ),
        ] {
            check(
                &ctx,
                cdr,
                &format!("HbA1c {name}"),
                &one(crit("c", lab(HBA1C, v))),
                Expect::Some,
            )
            .await;
        }
        check(
            &ctx,
            cdr,
            "physical measurement BMI >= 30",
            &one(crit(
                "c",
                CriterionKind::PhysicalMeasurement {
                    concept_id: BMI,
                    value: Some(ValueFilter::GreaterThanOrEqualTo { value: 30.0 }),
                },
            )),
            Expect::Some,
        )
        .await;
        check(
            &ctx,
            cdr,
            "physical measurement systolic 120 to 140",
            &one(crit(
                "c",
                CriterionKind::PhysicalMeasurement {
                    concept_id: SYSTOLIC_BP,
                    value: Some(ValueFilter::Between {
                        min: 120.0,
                        max: 140.0,
                    }),
                },
            )),
            Expect::Some,
        )
        .await;
        // Categorical values: a qualitative lab, with IN; its numeric value is empty, so no
        // comparison passes, not even NOT_EQUAL.
        let qualitative =
            most_frequent(cdr, |e| in_range(e.concept, 2) && e.value_concept.is_some());
        let positive = cdr
            .events
            .iter()
            .find(|e| e.concept == qualitative)
            .and_then(|e| e.value_concept)
            .unwrap();
        check(
            &ctx,
            cdr,
            "a qualitative lab IN",
            &one(crit(
                "c",
                lab(
                    qualitative,
                    ValueFilter::In {
                        value_concept_ids: vec![positive],
                    },
                ),
            )),
            Expect::Some,
        )
        .await;
        check(
            &ctx,
            cdr,
            "a qualitative lab <> 0",
            &one(crit(
                "c",
                lab(qualitative, ValueFilter::NotEqual { value: 0.0 }),
            )),
            Expect::Empty,
        )
        .await;
    }

    #[tokio::test]
    async fn modifiers_match_the_reference() {
        let cdr = fixture();
        let ctx = context(&cdr.dir).await.unwrap();
        let m = |f: &dyn Fn(&mut Modifiers)| {
            let mut m = Modifiers::default();
            f(&mut m);
            m
        };
        let cases: Vec<(&str, CriterionKind, Modifiers)> = vec![
            (
                "age at event from 60",
                t2d(),
                m(&|m| {
                    m.age_at_event = Some(AgeRange {
                        min: Some(60),
                        max: None,
                    })
                }),
            ),
            (
                "age at event up to 50",
                t2d(),
                m(&|m| {
                    m.age_at_event = Some(AgeRange {
                        min: None,
                        max: Some(50),
                    })
                }),
            ),
            (
                "age at event 45 to 65",
                t2d(),
                m(&|m| {
                    m.age_at_event = Some(AgeRange {
                        min: Some(45),
                        max: Some(65),
                    })
                }),
            ),
            (
                "on or after 2018",
                t2d(),
                m(&|m| {
                    m.event_date = Some(DateFilter::OnOrAfter {
                        date: day(2018, 1, 1),
                    })
                }),
            ),
            (
                "on or before 2012",
                t2d(),
                m(&|m| {
                    m.event_date = Some(DateFilter::OnOrBefore {
                        date: day(2012, 12, 31),
                    })
                }),
            ),
            (
                "between 2012 and 2018",
                t2d(),
                m(&|m| {
                    m.event_date = Some(DateFilter::Between {
                        start: day(2012, 1, 1),
                        end: day(2018, 6, 30),
                    })
                }),
            ),
            (
                "inpatient",
                domain(Domain::Condition, CONDITION_ROOT, true),
                m(&|m| m.during_visit_type = Some(vec![INPATIENT])),
            ),
            (
                "outpatient or emergency",
                t2d(),
                m(&|m| m.during_visit_type = Some(vec![OUTPATIENT, EMERGENCY])),
            ),
            (
                "3 or more dates",
                t2d(),
                m(&|m| m.occurrences_at_least = Some(3)),
            ),
            (
                "1 or more dates",
                t2d(),
                m(&|m| m.occurrences_at_least = Some(1)),
            ),
            // Many conditions share a visit's date: dates are not events.
            (
                "any condition on 12 or more dates",
                domain(Domain::Condition, CONDITION_ROOT, true),
                m(&|m| m.occurrences_at_least = Some(12)),
            ),
            (
                "everything at once",
                lab(HBA1C, ValueFilter::GreaterThanOrEqualTo { value: 6.5 }),
                m(&|m| {
                    m.age_at_event = Some(AgeRange {
                        min: Some(50),
                        max: None,
                    });
                    m.event_date = Some(DateFilter::OnOrAfter {
                        date: day(2010, 1, 1),
                    });
                    m.during_visit_type = Some(vec![OUTPATIENT]);
                    m.occurrences_at_least = Some(2);
                }),
            ),
        ];
        for (name, kind, mods) in cases {
            check(
                &ctx,
                cdr,
                name,
                &one(with(crit("c-mod", kind), mods)),
                Expect::Some,
            )
            .await;
        }
        // Metformin comes only as refills, which have no visit: they never pass a visit type.
        check(
            &ctx,
            cdr,
            "metformin outpatient",
            &one(with(
                crit("c", domain(Domain::Drug, METFORMIN, true)),
                m(&|m| m.during_visit_type = Some(vec![OUTPATIENT])),
            )),
            Expect::Empty,
        )
        .await;
        // The occurrence count comes after the other modifiers: counting before them selects
        // other people.
        let late = m(&|m| {
            m.event_date = Some(DateFilter::OnOrAfter {
                date: day(2020, 1, 1),
            });
            m.occurrences_at_least = Some(2);
        });
        let got = check(
            &ctx,
            cdr,
            "count after the date",
            &one(with(crit("c", t2d()), late.clone())),
            Expect::Some,
        )
        .await;
        let count_first: Set = {
            let counted = cdr.criterion(
                &with(crit("c", t2d()), m(&|m| m.occurrences_at_least = Some(2))),
                Mention::AnyMention,
            );
            let dated = cdr.criterion(
                &with(crit("c", t2d()), m(&|m| m.event_date = late.event_date)),
                Mention::AnyMention,
            );
            counted.intersection(&dated).copied().collect()
        };
        assert_ne!(got, count_first, "the order of the steps is observable");
    }

    #[tokio::test]
    async fn mentions_match_the_reference() {
        let cdr = fixture();
        let ctx = context(&cdr.dir).await.unwrap();
        let after = Modifiers {
            event_date: Some(DateFilter::OnOrAfter {
                date: day(2015, 1, 1),
            }),
            ..Modifiers::default()
        };
        let before = Modifiers {
            event_date: Some(DateFilter::OnOrBefore {
                date: day(2015, 1, 1),
            }),
            ..Modifiers::default()
        };
        let any_after = cdr.criterion(&with(crit("c", t2d()), after.clone()), Mention::AnyMention);
        let first_after = check(
            &ctx,
            cdr,
            "first mention on or after 2015",
            &one_group(mention(
                group("g", vec![with(crit("c", t2d()), after.clone())]),
                Mention::FirstMention,
            )),
            Expect::Some,
        )
        .await;
        assert!(
            first_after.is_subset(&any_after) && first_after != any_after,
            "the mention comes before the date"
        );
        let last_before = check(
            &ctx,
            cdr,
            "last mention on or before 2015",
            &one_group(mention(
                group("g", vec![with(crit("c", t2d()), before)]),
                Mention::LastMention,
            )),
            Expect::Some,
        )
        .await;
        assert!(last_before.is_disjoint(&first_after));
        // First mention, then "2 or more dates": the first date is one date.
        check(
            &ctx,
            cdr,
            "first mention on 2 dates",
            &one_group(mention(
                group(
                    "g",
                    vec![with(
                        crit("c", t2d()),
                        Modifiers {
                            occurrences_at_least: Some(2),
                            ..Modifiers::default()
                        },
                    )],
                ),
                Mention::FirstMention,
            )),
            Expect::Empty,
        )
        .await;
        // Each criterion of the group takes the mention on its own base events.
        check(
            &ctx,
            cdr,
            "last mention of HbA1c >= 7 from age 55",
            &one_group(mention(
                group(
                    "g",
                    vec![
                        with(
                            crit(
                                "c-hba1c",
                                lab(HBA1C, ValueFilter::GreaterThanOrEqualTo { value: 7.0 }),
                            ),
                            Modifiers {
                                age_at_event: Some(AgeRange {
                                    min: Some(55),
                                    max: None,
                                }),
                                ..Modifiers::default()
                            },
                        ),
                        with(
                            crit("c-insulin", domain(Domain::Drug, INSULIN, true)),
                            after.clone(),
                        ),
                    ],
                ),
                Mention::LastMention,
            )),
            Expect::Some,
        )
        .await;
    }

    #[tokio::test]
    async fn temporal_groups_match_the_reference() {
        let cdr = fixture();
        let ctx = context(&cdr.dir).await.unwrap();
        let hba1c_high = || {
            crit(
                "c-hba1c",
                lab(HBA1C, ValueFilter::GreaterThanOrEqualTo { value: 7.5 }),
            )
        };
        let t2d_index = || crit("c-t2d-index", t2d());
        let cases: Vec<(&str, Group, Expect)> = vec![
            (
                "HbA1c within 30 days of T2D",
                temporal(
                    group("g", vec![hba1c_high()]),
                    TemporalKind::WithinXDays { days: 30 },
                    vec![t2d_index()],
                ),
                Expect::Some,
            ),
            (
                "T2D 400 or more days before insulin",
                temporal(
                    group("g", vec![crit("c-t2d", t2d())]),
                    TemporalKind::XOrMoreDaysBefore { days: 400 },
                    vec![crit("c-ins", domain(Domain::Drug, INSULIN, true))],
                ),
                Expect::Some,
            ),
            // The second event may come first.
            (
                "metformin within 20 days of T2D",
                temporal(
                    group(
                        "g",
                        vec![crit("c-met", domain(Domain::Drug, METFORMIN, true))],
                    ),
                    TemporalKind::WithinXDays { days: 20 },
                    vec![t2d_index()],
                ),
                Expect::Some,
            ),
            (
                "metformin 60 or more days after T2D",
                temporal(
                    group(
                        "g",
                        vec![crit("c-met", domain(Domain::Drug, METFORMIN, true))],
                    ),
                    TemporalKind::XOrMoreDaysAfter { days: 60 },
                    vec![t2d_index()],
                ),
                Expect::Some,
            ),
            (
                "T2D during an inpatient visit",
                temporal(
                    group("g", vec![crit("c-t2d", t2d())]),
                    TemporalKind::DuringSameEncounter {},
                    vec![crit("c-ip", domain(Domain::Visit, INPATIENT, false))],
                ),
                Expect::Some,
            ),
            (
                "HbA1c during the same encounter as T2D",
                temporal(
                    group("g", vec![hba1c_high()]),
                    TemporalKind::DuringSameEncounter {},
                    vec![t2d_index()],
                ),
                Expect::Some,
            ),
            // Refills have no visit: never the same encounter.
            (
                "metformin during the same encounter as T2D",
                temporal(
                    group(
                        "g",
                        vec![crit("c-met", domain(Domain::Drug, METFORMIN, true))],
                    ),
                    TemporalKind::DuringSameEncounter {},
                    vec![t2d_index()],
                ),
                Expect::Empty,
            ),
            // The same event serves in both lists.
            (
                "T2D within 0 days of T2D",
                temporal(
                    group("g", vec![crit("c-t2d", t2d())]),
                    TemporalKind::WithinXDays { days: 0 },
                    vec![t2d_index()],
                ),
                Expect::Some,
            ),
            (
                "T2D 0 or more days before T2D",
                temporal(
                    group("g", vec![crit("c-t2d", t2d())]),
                    TemporalKind::XOrMoreDaysBefore { days: 0 },
                    vec![t2d_index()],
                ),
                Expect::Some,
            ),
            (
                "first T2D 365 days before HbA1c, HbA1c on 2 dates",
                mention(
                    temporal(
                        group("g", vec![crit("c-t2d", t2d())]),
                        TemporalKind::XOrMoreDaysBefore { days: 365 },
                        vec![with(
                            hba1c_high(),
                            Modifiers {
                                occurrences_at_least: Some(2),
                                ..Modifiers::default()
                            },
                        )],
                    ),
                    Mention::FirstMention,
                ),
                Expect::Some,
            ),
            (
                "last T2D 365 days after an HbA1c",
                mention(
                    temporal(
                        group("g", vec![crit("c-t2d", t2d())]),
                        TemporalKind::XOrMoreDaysAfter { days: 365 },
                        vec![hba1c_high()],
                    ),
                    Mention::LastMention,
                ),
                Expect::Some,
            ),
        ];
        for (name, g, expect) in cases {
            check(&ctx, cdr, name, &one_group(g), expect).await;
        }
        // The mention applies to the group's own criteria only, not to the second list.
        let g = mention(
            temporal(
                group("g", vec![crit("c-t2d", t2d())]),
                TemporalKind::XOrMoreDaysAfter { days: 30 },
                vec![t2d_index()],
            ),
            Mention::LastMention,
        );
        let got = check(
            &ctx,
            cdr,
            "last T2D 30 days after a T2D",
            &one_group(g.clone()),
            Expect::Some,
        )
        .await;
        let both: Set = {
            let last = |c: &Criterion| cdr.criterion_events(c, Mention::LastMention);
            let (a, b) = (
                last(&g.criteria[0]),
                last(&g.temporal.as_ref().unwrap().second[0]),
            );
            a.iter()
                .filter(|e1| {
                    b.iter()
                        .any(|e2| e2.person == e1.person && e1.date - e2.date >= 30)
                })
                .map(|e| e.person)
                .collect()
        };
        assert!(
            both.is_empty() && !got.is_empty(),
            "a mention on the second list would change it"
        );
    }

    #[tokio::test]
    async fn totals_intersect_includes_and_subtract_excludes_but_not_suppressed_groups() {
        let cdr = fixture();
        let ctx = context(&cdr.dir).await.unwrap();
        let g_t2d = group(
            "g-t2d",
            vec![
                crit("c-t2d", t2d()),
                crit(
                    "c-ckd",
                    domain(
                        Domain::Condition,
                        crate::events::CHRONIC_KIDNEY_DISEASE,
                        true,
                    ),
                ),
            ],
        );
        let g_age = group(
            "g-age",
            vec![crit(
                "c-age",
                CriterionKind::Age {
                    basis: AgeBasis::AtCdr,
                    min: 40,
                    max: 75,
                },
            )],
        );
        let g_female = group(
            "g-female",
            vec![crit(
                "c-female",
                CriterionKind::GenderIdentity {
                    concept_ids: vec![FEMALE],
                },
            )],
        );
        let g_insulin = group(
            "g-insulin",
            vec![crit("c-insulin", domain(Domain::Drug, INSULIN, true))],
        );
        let g_dead = group("g-dead", vec![crit("c-dead", CriterionKind::Deceased {})]);
        let g_hba1c = temporal(
            group(
                "g-hba1c",
                vec![crit(
                    "c-hba1c",
                    lab(HBA1C, ValueFilter::GreaterThanOrEqualTo { value: 6.5 }),
                )],
            ),
            TemporalKind::WithinXDays { days: 90 },
            vec![crit("c-t2d-index", t2d())],
        );
        let full = CohortDefinition {
            include: vec![
                g_t2d.clone(),
                g_age.clone(),
                suppressed(g_female.clone()),
                g_hba1c.clone(),
            ],
            exclude: vec![g_insulin.clone(), suppressed(g_dead.clone())],
        };
        let total = check(&ctx, cdr, "a full definition", &full, Expect::Some).await;
        // The suppressed groups really are left out.
        let with_female = CohortDefinition {
            include: vec![
                g_t2d.clone(),
                g_age.clone(),
                g_female.clone(),
                g_hba1c.clone(),
            ],
            exclude: vec![g_insulin.clone(), g_dead.clone()],
        };
        let strict = check_parts(
            &ctx,
            cdr,
            "nothing suppressed",
            &with_female,
            Expect::Some,
            false,
        )
        .await;
        assert!(strict.is_subset(&total) && strict != total);
        // Every include group suppressed: every person less the exclusions.
        let none_counted = CohortDefinition {
            include: vec![suppressed(g_t2d.clone())],
            exclude: vec![g_age.clone(), g_insulin.clone()],
        };
        check(
            &ctx,
            cdr,
            "every include group suppressed",
            &none_counted,
            Expect::Some,
        )
        .await;
        let only_exclude_suppressed = CohortDefinition {
            include: vec![g_female.clone()],
            exclude: vec![suppressed(g_t2d)],
        };
        let females = check_parts(
            &ctx,
            cdr,
            "a suppressed exclusion",
            &only_exclude_suppressed,
            Expect::Some,
            false,
        )
        .await;
        assert_eq!(females, cdr.group(&g_female));
    }

    // -----------------------------------------------------------------------------------------
    // A hand-made CDR: edge cases with hand-computed answers (no device_exposure, no death)
    // -----------------------------------------------------------------------------------------

    fn write(dir: &Path, table: &'static Table, rows: &[Vec<Val<'_>>]) {
        let mut t = TableRows::new(table);
        for r in rows {
            t.push(r);
        }
        let mut sink = ParquetSink::create(dir, table).unwrap();
        sink.write(&t.finish()).unwrap();
        sink.finish().unwrap();
    }

    fn d(y: i32, m: u32, dd: u32) -> Val<'static> {
        Val::Date(days(day(y, m, dd)))
    }

    fn hand_cdr(dir: &Path) {
        use Val::{Int as I, Null as N};
        std::fs::create_dir_all(dir).unwrap();
        let concept = |id: i64, domain: &'static str, class: &'static str| {
            vec![
                I(id),
                Val::Text("a concept"),
                Val::Text(domain),
                Val::Text("Test"),
                Val::Text(class),
                Val::Text("S"),
                Val::Text("code"),
                d(1970, 1, 1),
                d(2099, 12, 31),
                N,
            ]
        };
        write(
            dir,
            &schema::CONCEPT,
            &[
                concept(100, "Condition", "Clinical Finding"),
                concept(101, "Condition", "Clinical Finding"),
                concept(102, "Condition", "Clinical Finding"),
                concept(INPATIENT, "Visit", "Visit"),
                concept(OUTPATIENT, "Visit", "Visit"),
                concept(200, "Measurement", "Lab Test"),
                concept(300, "Observation", "Module"),
                concept(301, "Observation", "Question"),
                concept(302, "Observation", "Answer"),
                concept(303, "Observation", "Question"),
                concept(500, "Drug", "Ingredient"),
                concept(600, "Observation", "Clinical Observation"),
            ],
        );
        let mut anc: Vec<Vec<Val>> = [
            100, 101, 102, INPATIENT, OUTPATIENT, 200, 300, 301, 302, 303, 500, 600,
        ]
        .iter()
        .map(|c| vec![I(*c), I(*c), I(0), I(0)])
        .collect();
        for (a, b) in [
            (100, 101),
            (100, 102),
            (101, 102),
            (300, 301),
            (300, 302),
            (301, 302),
            (300, 303),
        ] {
            anc.push(vec![I(a), I(b), I(1), I(1)]);
        }
        write(dir, &schema::CONCEPT_ANCESTOR, &anc);
        let person = |id: i64, y: i64, m: Option<i64>, dd: Option<i64>| {
            vec![
                I(id),
                I(FEMALE),
                I(y),
                m.map_or(N, I),
                dd.map_or(N, I),
                I(WHITE),
                I(HISPANIC),
                N,
                N,
            ]
        };
        write(
            dir,
            &schema::PERSON,
            &[
                person(1, 1980, Some(7), Some(15)),
                person(2, 1980, None, None),
                person(3, 1990, Some(3), Some(1)),
                person(4, 1950, Some(12), Some(31)),
                person(5, 1985, Some(6), Some(10)),
            ],
        );
        write(
            dir,
            &schema::OBSERVATION_PERIOD,
            &[
                vec![I(1), I(1), d(2000, 1, 1), d(2020, 6, 30), I(0)],
                vec![I(2), I(2), d(2000, 1, 1), d(2021, 3, 1), I(0)],
            ],
        );
        let visit =
            |id: i64, p: i64, c: i64, when: Val<'static>| vec![I(id), I(p), I(c), when, when, I(0)];
        write(
            dir,
            &schema::VISIT_OCCURRENCE,
            &[
                visit(10, 1, INPATIENT, d(2010, 1, 1)),
                visit(11, 1, OUTPATIENT, d(2010, 1, 1)),
                visit(20, 2, INPATIENT, d(2011, 5, 5)),
                visit(21, 2, OUTPATIENT, d(2012, 5, 5)),
                visit(30, 3, OUTPATIENT, d(2015, 1, 1)),
                visit(31, 3, INPATIENT, d(2015, 1, 1)),
            ],
        );
        let cond = |id: i64, p: i64, c: i64, when: Val<'static>, v: Option<i64>| {
            vec![I(id), I(p), I(c), when, N, I(0), v.map_or(N, I), N]
        };
        write(
            dir,
            &schema::CONDITION_OCCURRENCE,
            &[
                cond(1, 1, 102, d(2010, 1, 1), Some(10)),
                cond(2, 1, 102, d(2010, 1, 1), Some(11)),
                cond(3, 1, 101, d(2015, 3, 3), None),
                cond(4, 2, 102, d(2011, 5, 5), Some(20)),
                cond(5, 2, 102, d(2012, 5, 5), Some(21)),
                cond(6, 3, 101, d(2015, 1, 1), Some(30)),
                // A person the person table does not know: not in the universe.
                cond(7, 99, 102, d(2010, 1, 1), None),
            ],
        );
        write(
            dir,
            &schema::DRUG_EXPOSURE,
            &[vec![
                I(1),
                I(4),
                I(500),
                d(2016, 1, 1),
                d(2016, 1, 30),
                I(0),
                N,
                N,
                N,
            ]],
        );
        write(dir, &schema::PROCEDURE_OCCURRENCE, &[]);
        let meas = |id: i64, p: i64, value: Option<f64>, v: Option<i64>| {
            vec![
                I(id),
                I(p),
                I(200),
                d(2016, 1, 1),
                I(0),
                value.map_or(N, Val::Float),
                N,
                N,
                N,
                N,
                v.map_or(N, I),
            ]
        };
        write(
            dir,
            &schema::MEASUREMENT,
            &[
                meas(1, 3, None, Some(30)),
                meas(2, 4, Some(6.0), None),
                meas(3, 5, Some(5.0), None),
            ],
        );
        let obs =
            |id: i64, p: i64, c: i64, when: Val<'static>, num: Option<f64>, answer: Option<i64>| {
                vec![
                    I(id),
                    I(p),
                    I(c),
                    when,
                    I(0),
                    num.map_or(N, Val::Float),
                    N,
                    answer.map_or(N, I),
                    N,
                    N,
                ]
            };
        write(
            dir,
            &schema::OBSERVATION,
            &[
                obs(1, 1, 301, d(2019, 5, 1), Some(7.0), Some(302)),
                obs(2, 1, 303, d(2019, 4, 1), None, None),
                obs(3, 2, 600, d(2018, 1, 1), None, None),
                obs(4, 3, 301, d(2020, 1, 1), None, Some(302)),
                // A question left unanswered.
                obs(5, 4, 303, d(2019, 1, 1), None, None),
            ],
        );
    }

    #[tokio::test]
    async fn the_hand_made_cdr_gives_the_hand_computed_answers() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cdr");
        hand_cdr(&dir);
        let tables = CdrTables::in_dir(&dir);
        assert!(!tables.has("device_exposure") && !tables.has("death") && tables.has("person"));
        let ctx = context(&dir).await.unwrap();
        let on = |when: NaiveDate, def: CohortDefinition| {
            let ctx = ctx.clone();
            let tables = tables.clone();
            let dir = dir.clone();
            async move {
                let sql = compile(&def, when, &tables).total;
                let got = persons(&ctx, &sql)
                    .await
                    .unwrap_or_else(|e| panic!("{e}\n{sql}"));
                // The reference agrees too.
                let want: Vec<i64> = Cdr::load(&dir, when).total(&def).into_iter().collect();
                assert_eq!(got, want, "SQL and reference\n{sql}");
                got
            }
        };
        let run = |def: CohortDefinition| on(day(2020, 7, 15), def);
        let vt = |v: Vec<i64>| Modifiers {
            during_visit_type: Some(v),
            ..Modifiers::default()
        };
        let age = |basis, min, max| one(crit("c", CriterionKind::Age { basis, min, max }));
        // Ages: the day before the birthday, and on it; a missing month and day are January 1st.
        assert_eq!(
            on(day(2020, 7, 14), age(AgeBasis::Current, 40, 40)).await,
            [2]
        );
        assert_eq!(
            on(day(2020, 7, 15), age(AgeBasis::Current, 40, 40)).await,
            [1, 2]
        );
        // Consent: the earliest Question observation; person 2 has none, so no age at consent.
        assert_eq!(run(age(AgeBasis::AtConsent, 38, 38)).await, [1]);
        assert_eq!(run(age(AgeBasis::AtConsent, 0, 120)).await, [1, 3, 4]);
        // The CDR date is the latest observation_period_end_date (2021-03-01).
        assert_eq!(run(age(AgeBasis::AtCdr, 41, 41)).await, [2]);
        assert_eq!(run(age(AgeBasis::AtCdr, 40, 41)).await, [1, 2]);
        // Absent optional tables are empty.
        assert_eq!(
            run(one(crit("c", CriterionKind::Deceased {}))).await,
            Vec::<i64>::new()
        );
        assert_eq!(
            run(one(crit("c", domain(Domain::Device, 400, true)))).await,
            Vec::<i64>::new()
        );
        // Has EHR data: visits, conditions, drugs; person 5 has only a measurement, person 99
        // is not a person.
        assert_eq!(
            run(one(crit("c", CriterionKind::HasEhrData {}))).await,
            [1, 2, 3, 4]
        );
        assert_eq!(
            run(one(crit(
                "c",
                CriterionKind::SexAtBirth {
                    concept_ids: vec![302]
                }
            )))
            .await,
            [1, 3]
        );
        // Descendants.
        assert_eq!(
            run(one(crit("c", domain(Domain::Condition, 100, true)))).await,
            [1, 2, 3]
        );
        assert_eq!(
            run(one(crit("c", domain(Domain::Condition, 100, false)))).await,
            Vec::<i64>::new()
        );
        assert_eq!(
            run(one(crit("c", domain(Domain::Condition, 101, false)))).await,
            [1, 3]
        );
        assert_eq!(
            run(one(crit("c", domain(Domain::Condition, 102, false)))).await,
            [1, 2]
        );
        // Mentions keep every event on the first (last) date: person 1's two visits that day.
        let c102 = |m: Modifiers| with(crit("c", domain(Domain::Condition, 102, false)), m);
        let first = |m| one_group(mention(group("g", vec![c102(m)]), Mention::FirstMention));
        let last = |m| one_group(mention(group("g", vec![c102(m)]), Mention::LastMention));
        assert_eq!(run(one(c102(vt(vec![OUTPATIENT])))).await, [1, 2]);
        assert_eq!(run(first(vt(vec![OUTPATIENT]))).await, [1]);
        assert_eq!(run(last(vt(vec![OUTPATIENT]))).await, [1, 2]);
        assert_eq!(run(last(vt(vec![INPATIENT]))).await, [1]);
        // A visit is its own visit.
        let visits = |m| one(with(crit("c", domain(Domain::Visit, OUTPATIENT, false)), m));
        assert_eq!(run(visits(vt(vec![OUTPATIENT]))).await, [1, 2, 3]);
        assert_eq!(run(visits(vt(vec![INPATIENT]))).await, Vec::<i64>::new());
        // Values: an empty value passes no comparison, not even <>.
        let m200 = |v| one(crit("c", lab(200, v)));
        assert_eq!(run(m200(ValueFilter::NotEqual { value: 5.0 })).await, [4]);
        assert_eq!(run(m200(ValueFilter::Equal { value: 5.0 })).await, [5]);
        assert_eq!(
            run(m200(ValueFilter::Between { min: 5.0, max: 6.0 })).await,
            [4, 5]
        );
        // Surveys; an answer event has no value, the question row keeps its own.
        let survey = |q: Option<i64>, a: Option<i64>| {
            one(crit(
                "c",
                CriterionKind::Survey {
                    module_concept_id: 300,
                    question_concept_id: q,
                    answer_concept_id: a,
                },
            ))
        };
        // The module's questions (an answer is not a question).
        assert_eq!(run(survey(None, None)).await, [1, 3, 4]);
        assert_eq!(run(survey(Some(303), None)).await, [1, 4]);
        assert_eq!(run(survey(Some(301), Some(302))).await, [1, 3]);
        let pm = |c: i64| {
            one(crit(
                "c",
                CriterionKind::PhysicalMeasurement {
                    concept_id: c,
                    value: Some(ValueFilter::GreaterThanOrEqualTo { value: 7.0 }),
                },
            ))
        };
        assert_eq!(run(pm(301)).await, [1]);
        assert_eq!(run(pm(302)).await, Vec::<i64>::new());
        // Temporal: the same encounter needs a visit on both; the same row serves both lists.
        let tg = |kind, first: CriterionKind, second: CriterionKind| {
            one_group(temporal(
                group("g", vec![crit("c1", first)]),
                kind,
                vec![crit("c2", second)],
            ))
        };
        let c = |id| domain(Domain::Condition, id, false);
        assert_eq!(
            run(tg(
                TemporalKind::DuringSameEncounter {},
                c(101),
                domain(Domain::Visit, OUTPATIENT, false)
            ))
            .await,
            [3]
        );
        // Person 3 had an inpatient visit that day too, but the condition was not in it.
        assert_eq!(
            run(tg(
                TemporalKind::DuringSameEncounter {},
                c(101),
                domain(Domain::Visit, INPATIENT, false)
            ))
            .await,
            Vec::<i64>::new()
        );
        assert_eq!(
            run(tg(TemporalKind::DuringSameEncounter {}, c(102), c(102))).await,
            [1, 2]
        );
        assert_eq!(
            run(tg(TemporalKind::WithinXDays { days: 0 }, c(102), c(102))).await,
            [1, 2]
        );
        // Person 2: 2011-05-05 and 2012-05-05 are 366 days apart.
        assert_eq!(
            run(tg(
                TemporalKind::XOrMoreDaysBefore { days: 366 },
                c(102),
                c(102)
            ))
            .await,
            [2]
        );
        assert_eq!(
            run(tg(
                TemporalKind::XOrMoreDaysBefore { days: 367 },
                c(102),
                c(102)
            ))
            .await,
            Vec::<i64>::new()
        );
        assert_eq!(
            run(tg(
                TemporalKind::XOrMoreDaysAfter { days: 366 },
                c(102),
                c(102)
            ))
            .await,
            [2]
        );
        assert_eq!(
            run(tg(TemporalKind::WithinXDays { days: 365 }, c(101), c(102))).await,
            Vec::<i64>::new()
        );
        // Person 1: 101 on 2015-03-03, 102 on 2010-01-01 (1887 days before).
        assert_eq!(
            run(tg(
                TemporalKind::XOrMoreDaysAfter { days: 1887 },
                c(101),
                c(102)
            ))
            .await,
            [1]
        );
        assert_eq!(
            run(tg(
                TemporalKind::XOrMoreDaysAfter { days: 1888 },
                c(101),
                c(102)
            ))
            .await,
            Vec::<i64>::new()
        );
        // Within: either order.
        assert_eq!(
            run(tg(TemporalKind::WithinXDays { days: 1887 }, c(101), c(102))).await,
            [1]
        );
        assert_eq!(
            run(tg(TemporalKind::WithinXDays { days: 1887 }, c(102), c(101))).await,
            [1]
        );
        // Occurrence dates are distinct dates: person 1's two events of 2010-01-01 are one.
        let dates2 = Modifiers {
            occurrences_at_least: Some(2),
            ..Modifiers::default()
        };
        assert_eq!(run(one(c102(dates2))).await, [2]);
        // Event dates include both ends; ages at events are whole years.
        let dated = |f| {
            one(c102(Modifiers {
                event_date: Some(f),
                ..Modifiers::default()
            }))
        };
        let on_or_before = DateFilter::OnOrBefore {
            date: day(2010, 1, 1),
        };
        let on_or_after = DateFilter::OnOrAfter {
            date: day(2012, 5, 5),
        };
        assert_eq!(run(dated(on_or_before)).await, [1]);
        assert_eq!(run(dated(on_or_after)).await, [2]);
        let between = |start, end| DateFilter::Between { start, end };
        assert_eq!(
            run(dated(between(day(2010, 1, 1), day(2011, 5, 5)))).await,
            [1, 2]
        );
        assert_eq!(
            run(dated(between(day(2010, 1, 2), day(2011, 5, 4)))).await,
            Vec::<i64>::new()
        );
        let aged = |min, max| {
            one(c102(Modifiers {
                age_at_event: Some(AgeRange { min, max }),
                ..Modifiers::default()
            }))
        };
        // Person 1 was 29 on 2010-01-01; person 2, born 1980 (January 1st), 31 and 32.
        assert_eq!(run(aged(None, Some(29))).await, [1]);
        assert_eq!(run(aged(Some(31), Some(31))).await, [2]);
        assert_eq!(run(aged(Some(30), Some(30))).await, Vec::<i64>::new());
        // Every include group suppressed: everyone less the exclusions.
        let def = CohortDefinition {
            include: vec![suppressed(group("g1", vec![crit("c1", c(101))]))],
            exclude: vec![group(
                "g2",
                vec![crit("c2", domain(Domain::Condition, 100, true))],
            )],
        };
        assert_eq!(run(def).await, [4, 5]);
    }

    // -----------------------------------------------------------------------------------------
    // The SQL text
    // -----------------------------------------------------------------------------------------

    fn doc_example() -> CohortDefinition {
        let doc = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cohort-definition.md"),
        )
        .unwrap();
        let start = doc.find("```json\n{\n  \"include\"").unwrap() + "```json\n".len();
        let end = start + doc[start..].find("```").unwrap();
        serde_json::from_str(&doc[start..end]).unwrap()
    }

    /// The SQL with its comments removed.
    fn code(sql: &str) -> String {
        sql.lines()
            .map(|l| l.split_once("--").map_or(l, |(code, _)| code))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn the_documented_example_reads_well_and_matches_the_reference() {
        let def = doc_example();
        wb_domain::cohort::validate(&def).unwrap();
        let cdr = fixture();
        let compiled = compile(&def, cdr.today, &CdrTables::all());
        assert!(
            compiled.total.contains(
                "-- include group 1 \"g-t2d\", criterion \"c-t2d\": Conditions 201826 and descendants\nc1 AS ("
            ),
            "{}",
            compiled.total
        );
        assert!(compiled.total.contains(
            "-- include group 3 \"g-hba1c\", temporal second list, criterion \"c-t2d-index\": \
             Conditions 201826 and descendants\n"
        ));
        assert!(compiled.total.contains("e.value_as_number >= 6.5"));
        for (_, sql) in compiled
            .groups
            .iter()
            .chain(&compiled.criteria)
            .chain([&(String::new(), compiled.total.clone())])
        {
            let code = code(sql);
            for id in [
                "g-t2d",
                "c-t2d",
                "g-age",
                "g-hba1c",
                "c-hba1c",
                "g-insulin",
                "c-insulin",
            ] {
                assert!(!code.contains(id), "{id} outside a comment:\n{sql}");
            }
        }
        let ctx = context(&cdr.dir).await.unwrap();
        check(&ctx, cdr, "the documented example", &def, Expect::Some).await;
    }

    #[tokio::test]
    async fn ids_reach_comments_only_and_escaped() {
        let cdr = fixture();
        let hostile = "x\n) SELECT 1; DROP TABLE person; --é";
        let def = CohortDefinition {
            include: vec![group(
                hostile,
                vec![crit(hostile, CriterionKind::HasEhrData {})],
            )],
            exclude: vec![],
        };
        let compiled = compile(&def, cdr.today, &CdrTables::all());
        let sql = &compiled.total;
        assert!(
            sql.contains(r#""x\u{a}\u{29}\u{20}SELECT\u{20}1\u{3b}\u{20}DROP"#),
            "{sql}"
        );
        assert!(!code(sql).contains("DROP"), "{sql}");
        let ctx = context(&cdr.dir).await.unwrap();
        check(&ctx, cdr, "hostile ids", &def, Expect::Some).await;
    }

    #[tokio::test]
    async fn persons_runs_queries_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cdr");
        hand_cdr(&dir);
        let ctx = context(&dir).await.unwrap();
        assert_eq!(
            persons(&ctx, "SELECT person_id FROM person WHERE person_id > 3")
                .await
                .unwrap(),
            [4, 5]
        );
        for sql in [
            "CREATE TABLE x AS SELECT 1 AS person_id",
            "DROP TABLE person",
            "SET datafusion.execution.batch_size = 1",
        ] {
            assert!(
                matches!(persons(&ctx, sql).await, Err(CdrError::Query(_))),
                "{sql}"
            );
        }
        assert!(ctx.table_exist("person").unwrap());
        let err = persons(&ctx, "SELECT 1 AS n").await.unwrap_err();
        assert!(err.to_string().contains("person_id"), "{err}");
    }

    #[tokio::test]
    async fn float_literals_read_back_exactly_as_doubles() {
        let ctx = SessionContext::new();
        for v in [
            6.5,
            0.1,
            1.0 / 3.0,
            0.1 + 0.2,
            1e-7,
            1e16,
            123_456_789.123_456_79,
            f64::MIN_POSITIVE,
            5e-324,
            -2.5,
            f64::MAX,
            f64::MIN,
            7.0,
            -0.0,
            1e300,
        ] {
            let lit = float(v);
            let b = ctx
                .sql(&format!("SELECT {lit} AS v"))
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let col = b[0].column(0);
            assert_eq!(col.data_type(), &DataType::Float64, "{lit}");
            let back = col.as_primitive::<Float64Type>().value(0);
            assert_eq!(back.to_bits(), (v + 0.0).to_bits(), "{lit}");
        }
        for (lit, want) in [
            ("CAST('NaN' AS DOUBLE)", f64::NAN),
            ("CAST('inf' AS DOUBLE)", f64::INFINITY),
        ] {
            assert_eq!(float(want), lit);
            let b = ctx
                .sql(&format!("SELECT {lit} AS v"))
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let back = b[0].column(0).as_primitive::<Float64Type>().value(0);
            assert!(back.is_nan() == want.is_nan() && (want.is_nan() || back == want));
        }
    }

    #[tokio::test]
    async fn dates_and_day_differences_are_exact() {
        let ctx = SessionContext::new();
        for when in [
            day(2015, 1, 1),
            day(1, 1, 1),
            day(9999, 12, 31),
            day(-44, 3, 15),
            day(10_000, 2, 29),
        ] {
            let sql = format!(
                "SELECT {} - DATE '1970-01-01' AS n, arrow_typeof({} - DATE '1970-01-01') AS t",
                date(when),
                date(when)
            );
            let b = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            assert_eq!(
                b[0].column(0).as_primitive::<Int64Type>().value(0),
                i64::from(days(when)),
                "{sql}"
            );
            assert_eq!(b[0].column(1).as_string::<i32>().value(0), "Int64", "{sql}");
        }
    }
}
