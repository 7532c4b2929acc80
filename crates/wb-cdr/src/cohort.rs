//! The index engine for cohort definitions: the fast path of the cohort builder.
//!
//! It answers a [`CohortDefinition`] from the CDR's index, implementing exactly the text of
//! `docs/cohort-definition.md` ("Evaluation"), which [`crate::cohort_sql`] compiles to SQL:
//!
//! - person criteria (demographics, age, deceased, has EHR data) and event criteria without
//!   modifiers are **bitmap algebra** over the index's per-concept person bitmaps and rollups;
//! - event criteria with value filters, mentions or modifiers, and temporal groups, read only
//!   their concepts' rows of `index/events_by_concept.parquet` (one projected read of the
//!   merged row ranges, skipping pages with the offset index), and work on those events per
//!   person, sorted by date.
//!
//! An [`Engine`] is opened once per CDR and shared: it holds the [`Cdr`] (vocabulary and index)
//! and the person facts (birth dates, demographics, deaths, the CDR date), and computes the
//! consent dates and the "Has EHR data" set the first time a definition needs them.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use datafusion::parquet::file::metadata::PageIndexPolicy;
use roaring::{MultiOps, RoaringBitmap};
use wb_domain::cohort::{
    AgeBasis, CohortDefinition, Criterion, CriterionError, CriterionKind, DateFilter,
    ExpectedDomain, Group, Mention, TemporalKind, ValueFilter,
};

use wb_domain::analysis::{AGE_BANDS, Bar, Chart, Count, Counts};

use crate::CdrError;
use crate::dates::{civil_from_days, days_from_civil};
use crate::parquet_in::read_err;
use crate::search::Cdr;
use crate::sorted::ANSWER_SOURCE;

/// The survey question whose answers are "Sex Assigned at Birth" (its PPI code).
pub const SEX_AT_BIRTH_QUESTION_CODE: &str = wb_domain::analysis::SEX_AT_BIRTH_QUESTION_CODE;

/// The domains whose events make "Has EHR data".
pub const EHR_DOMAINS: [&str; 5] = ["Condition", "Drug", "Procedure", "Visit", "Device"];

/// No visit, in [`Event::visit`].
const NO_VISIT: i64 = i64::MIN;

/// What a person is, by their bit in the index.
struct People {
    birth_year: Vec<i32>,
    /// `month * 100 + day` of the birth date (1 for a missing month or day).
    birth_md: Vec<u32>,
    gender: Vec<i64>,
    race: Vec<i64>,
    ethnicity: Vec<i64>,
    deceased: RoaringBitmap,
    /// The latest `observation_period_end_date`, days since 1970.
    cdr_date: Option<i32>,
}

impl People {
    fn age_at(&self, bit: u32, day: i32) -> i32 {
        let (y, m, d) = civil_from_days(day);
        let b = bit as usize;
        y - self.birth_year[b] - i32::from(m * 100 + d < self.birth_md[b])
    }
}

/// One event of a criterion, as the engine keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Event {
    person: u32,
    date: i32,
    visit: i64,
    visit_concept: i64,
}

/// One event row as read, before a criterion's value filter.
#[derive(Debug, Clone, Copy)]
struct Row {
    event: Event,
    value: Option<f64>,
    value_concept: Option<i64>,
    source: i64,
}

/// A criterion's result: its persons, and its events when a temporal group needs them.
struct Found {
    persons: RoaringBitmap,
    /// Sorted by person, then date.
    events: Option<Vec<Event>>,
}

/// The result of evaluating a definition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evaluation {
    /// The cohort.
    pub total: RoaringBitmap,
    /// Each group's own persons, include groups then exclude groups, by group id.
    pub groups: Vec<(String, RoaringBitmap)>,
    /// Each criterion's own persons (temporal second lists included), by criterion id.
    pub criteria: Vec<(String, RoaringBitmap)>,
}

/// A CDR opened for counting.
pub struct Engine {
    cdr: Cdr,
    people: People,
    events_path: PathBuf,
    events_meta: Option<ArrowReaderMetadata>,
    consent: OnceLock<Vec<i32>>,
    has_ehr: OnceLock<RoaringBitmap>,
    sex_at_birth: OnceLock<Vec<i64>>,
    sex_question: Option<i64>,
}

impl Engine {
    /// Opens the CDR in `dir` (vocabulary, index and person facts).
    pub fn open(dir: &Path) -> Result<Engine, CdrError> {
        Engine::new(Cdr::open(dir)?)
    }

    pub fn new(cdr: Cdr) -> Result<Engine, CdrError> {
        let people = load_people(&cdr)?;
        let events_path = cdr.dir.join("index").join("events_by_concept.parquet");
        let events_meta = if events_path.exists() {
            let file = File::open(&events_path).map_err(|e| read_err(&events_path, e))?;
            Some(
                ArrowReaderMetadata::load(
                    &file,
                    ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Optional),
                )
                .map_err(|e| read_err(&events_path, e))?,
            )
        } else {
            None
        };
        let sex_question = cdr
            .by_code(SEX_AT_BIRTH_QUESTION_CODE)
            .filter(|c| c.class == "Question")
            .map(|c| c.concept_id);
        Ok(Engine {
            cdr,
            people,
            events_path,
            events_meta,
            consent: OnceLock::new(),
            has_ehr: OnceLock::new(),
            sex_at_birth: OnceLock::new(),
            sex_question,
        })
    }

    pub fn cdr(&self) -> &Cdr {
        &self.cdr
    }

    /// Persons in the CDR.
    pub fn persons(&self) -> u64 {
        self.cdr.index.persons()
    }

    /// The `person_id`s of a set of persons, in order.
    pub fn person_ids(&self, set: &RoaringBitmap) -> Vec<i64> {
        set.iter()
            .map(|b| self.cdr.index.person_ids[b as usize])
            .collect()
    }

    /// The CDR date (the latest end of an observation period).
    pub fn cdr_date(&self) -> Option<NaiveDate> {
        self.people.cdr_date.and_then(to_date)
    }

    /// Checks the definition's concepts against this CDR: each must exist and be of the kind
    /// its place expects. Errors come in definition order, in the format of
    /// [`wb_domain::cohort::validate`].
    pub fn check(&self, def: &CohortDefinition) -> Vec<CriterionError> {
        let mut errors = Vec::new();
        for r in wb_domain::cohort::referenced_concepts(def) {
            let Some(c) = self.cdr.concept(r.concept_id) else {
                errors.push(r.unknown());
                continue;
            };
            let ok = match r.expected {
                ExpectedDomain::Ehr(d) => c.domain == d.omop_id(),
                ExpectedDomain::Ethnicity => c.domain == "Ethnicity",
                ExpectedDomain::Gender => c.domain == "Gender",
                ExpectedDomain::Race => c.domain == "Race",
                ExpectedDomain::SexAtBirth => {
                    c.class == "Answer"
                        && self
                            .sex_question
                            .is_some_and(|q| self.cdr.parent_ids(c.concept_id).contains(&q))
                }
                ExpectedDomain::SurveyModule => c.class == "Module",
                ExpectedDomain::SurveyQuestion => c.class == "Question",
                ExpectedDomain::SurveyAnswer => c.class == "Answer",
                ExpectedDomain::PhysicalMeasurement => c.domain == "Measurement",
                ExpectedDomain::MeasurementValue => c.domain == "Meas Value",
            };
            if !ok {
                let actual = match r.expected {
                    ExpectedDomain::SexAtBirth
                    | ExpectedDomain::SurveyModule
                    | ExpectedDomain::SurveyQuestion
                    | ExpectedDomain::SurveyAnswer => {
                        if c.class.is_empty() {
                            c.domain.clone()
                        } else {
                            format!("{} ({})", c.domain, c.class)
                        }
                    }
                    _ => c.domain.clone(),
                };
                errors.push(r.wrong_domain(&actual));
            }
        }
        // A survey's question must belong to its module, its answer to its question.
        for (loc, c) in wb_domain::cohort::located_criteria(def) {
            let CriterionKind::Survey {
                module_concept_id: m,
                question_concept_id: Some(q),
                answer_concept_id,
            } = &c.kind
            else {
                continue;
            };
            let known = |id: i64| self.cdr.concept(id).is_some();
            let mismatch = |field: &str, message: String| CriterionError {
                code: wb_domain::cohort::ErrorCode::WrongDomain,
                location: loc.at(field),
                message,
            };
            if known(*q) && known(*m) && !self.cdr.parent_ids(*q).contains(m) {
                errors.push(mismatch(
                    "kind.question_concept_id",
                    format!("Question {q} is not a question of survey {m}."),
                ));
            }
            if let Some(a) = answer_concept_id
                && known(*a)
                && known(*q)
                && !self.cdr.parent_ids(*a).contains(q)
            {
                errors.push(mismatch(
                    "kind.answer_concept_id",
                    format!("Answer {a} is not an answer to question {q}."),
                ));
            }
        }
        errors
    }

    /// Evaluates a definition (which [`wb_domain::cohort::validate`] and [`Engine::check`] have
    /// passed), "Current Age" taken at `today`.
    pub fn evaluate(
        &self,
        def: &CohortDefinition,
        today: NaiveDate,
    ) -> Result<Evaluation, CdrError> {
        let today = days(today);
        let mut out = Evaluation::default();
        let mut include: Vec<RoaringBitmap> = Vec::new();
        let mut exclude: Vec<RoaringBitmap> = Vec::new();
        for (is_include, group) in def
            .include
            .iter()
            .map(|g| (true, g))
            .chain(def.exclude.iter().map(|g| (false, g)))
        {
            let persons = self.group(group, today, &mut out.criteria)?;
            if !group.suppressed {
                if is_include {
                    include.push(persons.clone());
                } else {
                    exclude.push(persons.clone());
                }
            }
            out.groups.push((group.id.clone(), persons));
        }
        let mut total = if include.is_empty() {
            let mut all = RoaringBitmap::new();
            all.insert_range(0..self.persons() as u32);
            all
        } else {
            include.into_iter().intersection()
        };
        if !exclude.is_empty() {
            total -= exclude.into_iter().union();
        }
        out.total = total;
        Ok(out)
    }

    fn group(
        &self,
        group: &Group,
        today: i32,
        criteria: &mut Vec<(String, RoaringBitmap)>,
    ) -> Result<RoaringBitmap, CdrError> {
        let temporal = group.temporal.as_ref();
        let need_events = temporal.is_some();
        let mut firsts = Vec::with_capacity(group.criteria.len());
        for c in &group.criteria {
            let found = self.criterion(c, group.mention, need_events, today)?;
            criteria.push((c.id.clone(), found.persons.clone()));
            firsts.push(found);
        }
        let Some(t) = temporal else {
            return Ok(firsts.into_iter().map(|f| f.persons).union());
        };
        let mut seconds = Vec::with_capacity(t.second.len());
        for c in &t.second {
            let found = self.criterion(c, Mention::AnyMention, true, today)?;
            criteria.push((c.id.clone(), found.persons.clone()));
            seconds.push(found);
        }
        let merge = |found: Vec<Found>| {
            let mut all: Vec<Event> = found
                .into_iter()
                .flat_map(|f| f.events.unwrap_or_default())
                .collect();
            all.sort_unstable_by_key(|e| (e.person, e.date, e.visit));
            all
        };
        let (e1, e2) = (merge(firsts), merge(seconds));
        Ok(related(&e1, &e2, t.kind))
    }

    fn criterion(
        &self,
        c: &Criterion,
        mention: Mention,
        need_events: bool,
        today: i32,
    ) -> Result<Found, CdrError> {
        let person_set = |persons: RoaringBitmap| Found {
            persons,
            events: None,
        };
        let ix = &self.cdr.index;
        let p = &self.people;
        let n = p.birth_year.len();
        let by_value = |values: &[i64], ids: &[i64]| -> RoaringBitmap {
            let mut sorted = ids.to_vec();
            sorted.sort_unstable();
            (0..n as u32)
                .filter(|&b| sorted.binary_search(&values[b as usize]).is_ok())
                .collect()
        };
        match &c.kind {
            CriterionKind::Age { basis, min, max } => {
                let (min, max) = (*min as i32, *max as i32);
                let set = match basis {
                    AgeBasis::Current => self.ages_on(today, min, max),
                    AgeBasis::AtCdr => match p.cdr_date {
                        Some(day) => self.ages_on(day, min, max),
                        None => RoaringBitmap::new(),
                    },
                    AgeBasis::AtConsent => {
                        let consent = self.consent_dates()?;
                        self.ages_between(
                            |b| Some(consent[b as usize]).filter(|d| *d != i32::MIN),
                            min,
                            max,
                        )
                    }
                };
                return Ok(person_set(set));
            }
            CriterionKind::Deceased {} => return Ok(person_set(p.deceased.clone())),
            CriterionKind::Ethnicity { concept_ids } => {
                return Ok(person_set(by_value(&p.ethnicity, concept_ids)));
            }
            CriterionKind::GenderIdentity { concept_ids } => {
                return Ok(person_set(by_value(&p.gender, concept_ids)));
            }
            CriterionKind::Race { concept_ids } => {
                return Ok(person_set(by_value(&p.race, concept_ids)));
            }
            CriterionKind::SexAtBirth { concept_ids } => {
                let rows = self.read(concept_ids)?;
                return Ok(person_set(
                    rows.iter()
                        .filter(|r| r.source == ANSWER_SOURCE)
                        .map(|r| r.event.person)
                        .collect(),
                ));
            }
            CriterionKind::HasEhrData {} => return Ok(person_set(self.has_ehr().clone())),
            _ => {}
        }
        // Event criteria: the concepts, and the value filter.
        let (concepts, value): (Vec<i64>, Option<&ValueFilter>) = match &c.kind {
            CriterionKind::Survey {
                module_concept_id,
                question_concept_id,
                answer_concept_id,
            } => match (answer_concept_id, question_concept_id) {
                (Some(a), _) => (vec![*a], None),
                (None, Some(q)) => (vec![*q], None),
                (None, None) => (
                    self.cdr
                        .descendants(*module_concept_id)
                        .into_iter()
                        .filter(|d| self.cdr.concept(*d).is_some_and(|c| c.class == "Question"))
                        .collect(),
                    None,
                ),
            },
            CriterionKind::PhysicalMeasurement { concept_id, value } => {
                (vec![*concept_id], value.as_ref())
            }
            CriterionKind::Domain {
                concept_id,
                include_descendants,
                value,
                ..
            } => {
                let mut set = vec![*concept_id];
                if *include_descendants {
                    set.extend(self.cdr.descendants(*concept_id));
                }
                (set, value.as_ref())
            }
            _ => unreachable!("person criteria answered above"),
        };
        let plain = value.is_none() && c.modifiers.is_empty() && mention == Mention::AnyMention;
        if plain && !need_events {
            // Bitmap algebra only.
            let persons = match &c.kind {
                CriterionKind::Domain {
                    concept_id,
                    include_descendants: true,
                    ..
                } => ix.rollup(*concept_id),
                _ => concepts
                    .iter()
                    .filter_map(|k| ix.concepts.get(k).map(|e| &e.persons))
                    .union(),
            };
            return Ok(person_set(persons));
        }
        let rows = self.read(&concepts)?;
        let mut events: Vec<Event> = rows
            .iter()
            .filter(|r| value.is_none_or(|v| passes(v, r)))
            .map(|r| r.event)
            .collect();
        events.sort_unstable_by_key(|e| (e.person, e.date, e.visit));
        // 1. Mention.
        if mention != Mention::AnyMention {
            let mut kept = Vec::with_capacity(events.len());
            for person in events.chunk_by(|a, b| a.person == b.person) {
                let day = if mention == Mention::FirstMention {
                    person[0].date
                } else {
                    person[person.len() - 1].date
                };
                kept.extend(person.iter().filter(|e| e.date == day));
            }
            events = kept;
        }
        // 2. Modifiers on each event.
        let m = &c.modifiers;
        if let Some(age) = m.age_at_event {
            events.retain(|e| {
                let a = p.age_at(e.person, e.date);
                age.min.is_none_or(|lo| a >= lo as i32) && age.max.is_none_or(|hi| a <= hi as i32)
            });
        }
        if let Some(f) = m.event_date {
            let (lo, hi) = match f {
                DateFilter::OnOrBefore { date } => (i32::MIN, days(date)),
                DateFilter::OnOrAfter { date } => (days(date), i32::MAX),
                DateFilter::Between { start, end } => (days(start), days(end)),
            };
            events.retain(|e| (lo..=hi).contains(&e.date));
        }
        if let Some(visits) = &m.during_visit_type {
            events.retain(|e| e.visit != NO_VISIT && visits.contains(&e.visit_concept));
        }
        // 3. Occurrence dates.
        if let Some(at_least) = m.occurrences_at_least {
            let mut kept = Vec::with_capacity(events.len());
            for person in events.chunk_by(|a, b| a.person == b.person) {
                let dates = 1 + person.windows(2).filter(|w| w[0].date != w[1].date).count();
                if dates >= at_least as usize {
                    kept.extend_from_slice(person);
                }
            }
            events = kept;
        }
        let persons: RoaringBitmap = events.iter().map(|e| e.person).collect();
        Ok(Found {
            persons,
            events: need_events.then_some(events),
        })
    }

    /// Everything the builder shows for a definition: the counts, the attrition and the
    /// cohort's demographics (exact; the caller applies the dissemination rule).
    pub fn counts(&self, def: &CohortDefinition, today: NaiveDate) -> Result<Counts, CdrError> {
        let e = self.evaluate(def, today)?;
        let count = |(id, set): &(String, RoaringBitmap)| Count {
            id: id.clone(),
            count: set.len(),
        };
        let mut attrition = Vec::new();
        let mut running: Option<RoaringBitmap> = None;
        let groups = def
            .include
            .iter()
            .map(|g| (true, g))
            .chain(def.exclude.iter().map(|g| (false, g)));
        for ((is_include, g), (id, set)) in groups.zip(&e.groups) {
            if g.suppressed {
                continue;
            }
            let next = match (running.take(), is_include) {
                (None, true) => set.clone(),
                (None, false) => {
                    let mut all = RoaringBitmap::new();
                    all.insert_range(0..self.persons() as u32);
                    all - set
                }
                (Some(r), true) => r & set,
                (Some(r), false) => r - set,
            };
            attrition.push(Count {
                id: id.clone(),
                count: next.len(),
            });
            running = Some(next);
        }
        Ok(Counts {
            total: e.total.len(),
            groups: e.groups.iter().map(count).collect(),
            criteria: e.criteria.iter().map(count).collect(),
            attrition,
            chart: self.chart(&e.total, today)?,
            persons: self.persons(),
        })
    }

    /// The demographics of `set`: sex at birth, current age bands, race, ethnicity.
    pub fn chart(&self, set: &RoaringBitmap, today: NaiveDate) -> Result<Chart, CdrError> {
        let today = days(today);
        let p = &self.people;
        let sex = self.sex_at_birth()?;
        let name = |id: i64| -> String {
            match self.cdr.concept(id) {
                Some(c) => c
                    .name
                    .split_once(": ")
                    .map_or(c.name.as_str(), |(_, a)| a)
                    .to_owned(),
                None if id == 0 => "Not answered".to_owned(),
                None => format!("Concept {id}"),
            }
        };
        // One pass over the cohort (it may hold most of the CDR): each chart's values are a
        // handful of concepts, so a short list beats a hash map; the age reads today's date
        // once instead of converting it for every person.
        fn bump(tally: &mut Vec<(i64, u64)>, key: i64) {
            match tally.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => tally.push((key, 1)),
            }
        }
        let (ty, tm, td) = civil_from_days(today);
        let today_md = tm * 100 + td;
        let (mut by_sex, mut by_race, mut by_ethnicity) = (Vec::new(), Vec::new(), Vec::new());
        let mut age = vec![0u64; AGE_BANDS.len()];
        for b in set {
            let i = b as usize;
            bump(&mut by_sex, sex[i]);
            bump(&mut by_race, p.race[i]);
            bump(&mut by_ethnicity, p.ethnicity[i]);
            let a = ty - p.birth_year[i] - i32::from(today_md < p.birth_md[i]);
            if let Some(k) = AGE_BANDS
                .iter()
                .position(|(_, lo, hi)| (*lo..=*hi).contains(&a))
            {
                age[k] += 1;
            }
        }
        let bars = |by: Vec<(i64, u64)>| -> Vec<Bar> {
            let mut bars: Vec<Bar> = by
                .into_iter()
                .map(|(k, count)| Bar {
                    label: if k == 0 {
                        "Not answered".into()
                    } else {
                        name(k)
                    },
                    count,
                })
                .collect();
            bars.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
            bars
        };
        Ok(Chart {
            sex_at_birth: bars(by_sex),
            age: AGE_BANDS
                .iter()
                .zip(age)
                .filter(|(band, n)| *n > 0 || band.1 >= 18)
                .map(|((label, _, _), count)| Bar {
                    label: (*label).to_owned(),
                    count,
                })
                .collect(),
            race: bars(by_race),
            ethnicity: bars(by_ethnicity),
        })
    }

    /// Each person's answer to the sex-at-birth question (0: none; the earliest if several).
    fn sex_at_birth(&self) -> Result<&Vec<i64>, CdrError> {
        if let Some(s) = self.sex_at_birth.get() {
            return Ok(s);
        }
        let mut out = vec![0i64; self.people.birth_year.len()];
        if let Some(q) = self.sex_question {
            let answers: Vec<i64> = self
                .cdr
                .descendants(q)
                .into_iter()
                .filter(|a| self.cdr.concept(*a).is_some_and(|c| c.class == "Answer"))
                .collect();
            let mut first = vec![i32::MAX; out.len()];
            for a in answers {
                for r in self.read(&[a])? {
                    let b = r.event.person as usize;
                    if r.source == ANSWER_SOURCE && (r.event.date, a) < (first[b], out[b]) {
                        first[b] = r.event.date;
                        out[b] = a;
                    }
                }
            }
        }
        Ok(self.sex_at_birth.get_or_init(|| out))
    }

    /// Persons whose age on `day` is within `min..=max` (the date split once, not per person).
    fn ages_on(&self, day: i32, min: i32, max: i32) -> RoaringBitmap {
        let (y, m, d) = civil_from_days(day);
        let md = m * 100 + d;
        let p = &self.people;
        (0..p.birth_year.len() as u32)
            .filter(|&b| {
                let i = b as usize;
                (min..=max).contains(&(y - p.birth_year[i] - i32::from(md < p.birth_md[i])))
            })
            .collect()
    }

    /// Persons whose age at `at(person)` is within `min..=max` (no date: no match).
    fn ages_between(&self, at: impl Fn(u32) -> Option<i32>, min: i32, max: i32) -> RoaringBitmap {
        (0..self.people.birth_year.len() as u32)
            .filter(|&b| at(b).is_some_and(|d| (min..=max).contains(&self.people.age_at(b, d))))
            .collect()
    }

    /// Each person's consent date (`i32::MIN`: none): their earliest survey answer.
    fn consent_dates(&self) -> Result<&Vec<i32>, CdrError> {
        if let Some(c) = self.consent.get() {
            return Ok(c);
        }
        let questions: Vec<i64> = self
            .cdr
            .all_concepts()
            .filter(|c| c.class == "Question")
            .map(|c| c.concept_id)
            .collect();
        let observation = crate::schema::EVENT_TABLES
            .iter()
            .position(|t| t.name == "observation")
            .expect("observation is an event table") as i64;
        let mut out = vec![i32::MIN; self.people.birth_year.len()];
        for r in self.read(&questions)? {
            if r.source == observation {
                let d = &mut out[r.event.person as usize];
                if *d == i32::MIN || r.event.date < *d {
                    *d = r.event.date;
                }
            }
        }
        Ok(self.consent.get_or_init(|| out))
    }

    fn has_ehr(&self) -> &RoaringBitmap {
        self.has_ehr.get_or_init(|| {
            self.cdr
                .all_concepts()
                .filter(|c| EHR_DOMAINS.contains(&c.domain.as_str()))
                .filter_map(|c| self.cdr.index.concepts.get(&c.concept_id))
                .map(|e| &e.persons)
                .union()
        })
    }

    /// The event rows of these concepts, in file order (concept, person, date).
    fn read(&self, concepts: &[i64]) -> Result<Vec<Row>, CdrError> {
        let ix = &self.cdr.index;
        let mut ranges: Vec<(u64, u64)> = concepts
            .iter()
            .filter_map(|c| ix.event_rows.get(c).copied())
            .filter(|r| r.1 > 0)
            .collect();
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        let Some(meta) = &self.events_meta else {
            return Err(CdrError::Invalid(format!(
                "{} is missing: rebuild the index with `wb cdr index`",
                self.events_path.display()
            )));
        };
        ranges.sort_unstable();
        ranges.dedup();
        let total: u64 = meta.metadata().file_metadata().num_rows() as u64;
        let mut selectors = Vec::new();
        let mut at = 0u64;
        for (start, len) in ranges {
            if start > at {
                selectors.push(RowSelector::skip((start - at) as usize));
            }
            selectors.push(RowSelector::select(len as usize));
            at = start + len;
        }
        if at < total {
            selectors.push(RowSelector::skip((total - at) as usize));
        }
        let path = &self.events_path;
        let file = File::open(path).map_err(|e| read_err(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta.clone());
        let schema = builder.schema().clone();
        const COLUMNS: [&str; 7] = [
            "person_id",
            "event_date",
            "value_as_number",
            "value_as_concept_id",
            "visit_occurrence_id",
            "visit_concept_id",
            "source",
        ];
        let mut indices = Vec::new();
        for c in COLUMNS {
            indices.push(
                schema
                    .index_of(c)
                    .map_err(|_| read_err(path, format!("has no column {c}: rebuild the index")))?,
            );
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
        let reader = builder
            .with_projection(mask)
            .with_row_selection(RowSelection::from(selectors))
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| read_err(path, e))?;
        let ids = &ix.person_ids;
        let mut out = Vec::new();
        let mut last = (i64::MIN, 0u32);
        for batch in reader {
            let batch = batch.map_err(|e| read_err(path, e))?;
            let col = |name: &str| batch.column_by_name(name).expect("projected");
            let cast = |name: &str, t: &DataType| {
                datafusion::arrow::compute::cast(col(name), t)
                    .map_err(|e| read_err(path, format!("column {name}: {e}")))
            };
            let persons = cast("person_id", &DataType::Int64)?;
            let persons = persons.as_primitive::<Int64Type>();
            let dates = cast("event_date", &DataType::Date32)?;
            let dates = dates.as_primitive::<Date32Type>();
            let values = cast("value_as_number", &DataType::Float64)?;
            let values = values.as_primitive::<Float64Type>();
            let value_concepts = cast("value_as_concept_id", &DataType::Int64)?;
            let value_concepts = value_concepts.as_primitive::<Int64Type>();
            let visits = cast("visit_occurrence_id", &DataType::Int64)?;
            let visits = visits.as_primitive::<Int64Type>();
            let visit_concepts = cast("visit_concept_id", &DataType::Int64)?;
            let visit_concepts = visit_concepts.as_primitive::<Int64Type>();
            let sources = cast("source", &DataType::Int64)?;
            let sources = sources.as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                let pid = persons.value(i);
                let bit = if pid == last.0 {
                    last.1
                } else {
                    match ids.binary_search(&pid) {
                        Ok(b) => {
                            last = (pid, b as u32);
                            b as u32
                        }
                        Err(_) => continue,
                    }
                };
                let opt = |a: &datafusion::arrow::array::PrimitiveArray<Int64Type>| {
                    a.is_valid(i).then(|| a.value(i))
                };
                out.push(Row {
                    event: Event {
                        person: bit,
                        date: dates.value(i),
                        visit: opt(visits).unwrap_or(NO_VISIT),
                        visit_concept: opt(visit_concepts).unwrap_or(0),
                    },
                    value: values.is_valid(i).then(|| values.value(i)),
                    value_concept: opt(value_concepts),
                    source: sources.value(i),
                });
            }
        }
        Ok(out)
    }
}

/// Does this event row pass the value filter?
fn passes(v: &ValueFilter, r: &Row) -> bool {
    let num = |f: &dyn Fn(f64) -> bool| r.value.is_some_and(f);
    match v {
        ValueFilter::Equal { value } => num(&|x| x == *value),
        ValueFilter::NotEqual { value } => num(&|x| x != *value),
        ValueFilter::LessThan { value } => num(&|x| x < *value),
        ValueFilter::GreaterThan { value } => num(&|x| x > *value),
        ValueFilter::LessThanOrEqualTo { value } => num(&|x| x <= *value),
        ValueFilter::GreaterThanOrEqualTo { value } => num(&|x| x >= *value),
        ValueFilter::Between { min, max } => num(&|x| x >= *min && x <= *max),
        ValueFilter::In { value_concept_ids } => r
            .value_concept
            .is_some_and(|c| value_concept_ids.contains(&c)),
    }
}

/// The persons with an event of `e1` standing in `kind` to an event of `e2` (both sorted by
/// person, then date).
fn related(e1: &[Event], e2: &[Event], kind: TemporalKind) -> RoaringBitmap {
    let mut out = RoaringBitmap::new();
    let mut j = 0;
    for first in e1.chunk_by(|a, b| a.person == b.person) {
        let person = first[0].person;
        while j < e2.len() && e2[j].person < person {
            j += 1;
        }
        let start = j;
        while j < e2.len() && e2[j].person == person {
            j += 1;
        }
        let second = &e2[start..j];
        if second.is_empty() {
            continue;
        }
        let holds = match kind {
            TemporalKind::DuringSameEncounter {} => {
                let mut visits: Vec<i64> = first
                    .iter()
                    .map(|e| e.visit)
                    .filter(|v| *v != NO_VISIT)
                    .collect();
                visits.sort_unstable();
                second
                    .iter()
                    .any(|e| e.visit != NO_VISIT && visits.binary_search(&e.visit).is_ok())
            }
            TemporalKind::XOrMoreDaysBefore { days } => {
                i64::from(second[second.len() - 1].date) - i64::from(first[0].date) >= days
            }
            TemporalKind::XOrMoreDaysAfter { days } => {
                i64::from(first[first.len() - 1].date) - i64::from(second[0].date) >= days
            }
            TemporalKind::WithinXDays { days } => first.iter().any(|e| {
                let lo = i64::from(e.date) - days;
                let k = second.partition_point(|s| i64::from(s.date) < lo);
                k < second.len() && i64::from(second[k].date) <= i64::from(e.date) + days
            }),
        };
        if holds {
            out.insert(person);
        }
    }
    out
}

fn days(d: NaiveDate) -> i32 {
    days_from_civil(d.year(), d.month(), d.day())
}

fn to_date(days: i32) -> Option<NaiveDate> {
    let (y, m, d) = civil_from_days(days);
    NaiveDate::from_ymd_opt(y, m, d)
}

fn load_people(cdr: &Cdr) -> Result<People, CdrError> {
    let ids = &cdr.index.person_ids;
    let n = ids.len();
    let mut p = People {
        birth_year: vec![0; n],
        birth_md: vec![101; n],
        gender: vec![0; n],
        race: vec![0; n],
        ethnicity: vec![0; n],
        deceased: RoaringBitmap::new(),
        cdr_date: None,
    };
    let dir = &cdr.dir;
    let wanted = [
        ("person_id", DataType::Int64),
        ("year_of_birth", DataType::Int64),
        ("month_of_birth", DataType::Int64),
        ("day_of_birth", DataType::Int64),
        ("gender_concept_id", DataType::Int64),
        ("race_concept_id", DataType::Int64),
        ("ethnicity_concept_id", DataType::Int64),
    ];
    let mut seen = RoaringBitmap::new();
    crate::parquet_in::scan(&dir.join("person.parquet"), &wanted, |cols| {
        let c: Vec<_> = cols.iter().map(|c| c.as_primitive::<Int64Type>()).collect();
        let get = |k: usize, i: usize| c[k].is_valid(i).then(|| c[k].value(i));
        for i in 0..c[0].len() {
            let Ok(b) = ids.binary_search(&c[0].value(i)) else {
                continue;
            };
            if !seen.insert(b as u32) {
                continue;
            }
            p.birth_year[b] = get(1, i).unwrap_or(0) as i32;
            let month = get(2, i).unwrap_or(1) as u32;
            let day = get(3, i).unwrap_or(1) as u32;
            p.birth_md[b] = month * 100 + day;
            p.gender[b] = get(4, i).unwrap_or(0);
            p.race[b] = get(5, i).unwrap_or(0);
            p.ethnicity[b] = get(6, i).unwrap_or(0);
        }
        Ok(())
    })?;
    let death = dir.join("death.parquet");
    if death.exists() {
        crate::parquet_in::scan(&death, &[("person_id", DataType::Int64)], |cols| {
            let c = cols[0].as_primitive::<Int64Type>();
            for i in 0..c.len() {
                if let Ok(b) = ids.binary_search(&c.value(i)) {
                    p.deceased.insert(b as u32);
                }
            }
            Ok(())
        })?;
    }
    crate::parquet_in::scan(
        &dir.join("observation_period.parquet"),
        &[("observation_period_end_date", DataType::Date32)],
        |cols| {
            let c = cols[0].as_primitive::<Date32Type>();
            for i in 0..c.len() {
                if c.is_valid(i) {
                    let d = c.value(i);
                    p.cdr_date = Some(p.cdr_date.map_or(d, |x: i32| x.max(d)));
                }
            }
            Ok(())
        },
    )?;
    Ok(p)
}

/// Engines by CDR directory, opened once and shared (the server keeps one of these).
#[derive(Default)]
pub struct Engines {
    open: std::sync::Mutex<HashMap<PathBuf, Opened>>,
}

/// An open engine and the modification time of the index it was opened on.
type Opened = (std::sync::Arc<Engine>, Option<std::time::SystemTime>);

fn index_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(crate::index::Index::path(dir))
        .and_then(|m| m.modified())
        .ok()
}

impl Engines {
    /// The engine of the CDR in `dir`, opened on first use and again when its index was
    /// rewritten (the data was replaced). An index of an older format is rebuilt first (it is
    /// derived data).
    pub fn get(&self, dir: &Path) -> Result<std::sync::Arc<Engine>, CdrError> {
        // Held while opening, so two first requests open (or rebuild) once.
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mtime = index_mtime(dir);
        if let Some((e, at)) = open.get(dir)
            && *at == mtime
        {
            return Ok(e.clone());
        }
        let cdr = match Cdr::open(dir) {
            Err(CdrError::OldIndex(_)) => {
                crate::index::Index::build_and_save(dir)?;
                Cdr::open(dir)?
            }
            other => other?,
        };
        let engine = std::sync::Arc::new(Engine::new(cdr)?);
        open.insert(dir.to_owned(), (engine.clone(), index_mtime(dir)));
        Ok(engine)
    }

    /// Forgets the engine of `dir` (its data was replaced); the next use opens it again.
    pub fn forget(&self, dir: &Path) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(dir);
    }
}

impl wb_domain::analysis::CdrService for Engines {
    fn count(
        &self,
        data_dir: &str,
        def: &CohortDefinition,
        today: NaiveDate,
    ) -> Result<wb_domain::analysis::CountAnswer, wb_domain::analysis::ServiceError> {
        use wb_domain::analysis::{CountAnswer, ServiceError};
        let engine = self.get(Path::new(data_dir)).map_err(service_error)?;
        // Every problem at once: what the definition says and what the dataset says of its
        // concepts.
        let mut errors = wb_domain::cohort::validate(def).err().unwrap_or_default();
        errors.extend(engine.check(def));
        if !errors.is_empty() {
            return Ok(CountAnswer::Invalid(errors));
        }
        engine
            .counts(def, today)
            .map(CountAnswer::Counts)
            .map_err(|e| ServiceError::Failed(e.to_string()))
    }

    fn concepts(
        &self,
        data_dir: &str,
        q: &wb_domain::analysis::ConceptQuery,
    ) -> Result<Vec<wb_domain::analysis::ConceptHit>, wb_domain::analysis::ServiceError> {
        let engine = self.get(Path::new(data_dir)).map_err(service_error)?;
        let cdr = engine.cdr();
        let limit = q.limit.clamp(1, wb_domain::analysis::MAX_CONCEPT_RESULTS);
        let mut hits = if !q.ids.is_empty() {
            cdr.of_ids(&q.ids)
        } else if !q.text.trim().is_empty() {
            cdr.search(&crate::search::Query {
                text: q.text.clone(),
                domain: q.domain.clone(),
                vocabulary: None,
                standard_only: false,
                limit: if q.class.is_some() {
                    wb_domain::analysis::MAX_CONCEPT_RESULTS * 5
                } else {
                    limit
                },
            })
        } else if let Some(parent) = q.parent {
            cdr.children(parent)
        } else {
            match (q.domain.as_deref(), q.class.as_deref()) {
                (Some(d), Some(c)) => cdr.in_domain(d, Some(c)),
                // A domain without a hierarchy (races, visit types) lists all its concepts.
                (Some(d), None) => {
                    let roots = cdr.roots(d);
                    if roots.is_empty() {
                        cdr.in_domain(d, None)
                    } else {
                        roots
                    }
                }
                (None, _) => Vec::new(),
            }
        };
        if let Some(d) = &q.domain {
            hits.retain(|h| h.concept.domain.eq_ignore_ascii_case(d));
        }
        if let Some(c) = &q.class {
            hits.retain(|h| h.concept.class.eq_ignore_ascii_case(c));
        }
        hits.truncate(limit);
        Ok(hits
            .into_iter()
            .map(|h| wb_domain::analysis::ConceptHit {
                has_children: !cdr.children(h.concept.concept_id).is_empty(),
                concept_id: h.concept.concept_id,
                name: h.concept.name,
                code: h.concept.code,
                domain: h.concept.domain,
                vocabulary: h.concept.vocabulary,
                class: h.concept.class,
                standard: h.concept.standard == "S",
                persons: h.persons,
                own_persons: h.own_persons,
            })
            .collect())
    }

    fn sql(
        &self,
        data_dir: &str,
        def: &CohortDefinition,
        today: NaiveDate,
    ) -> Result<String, wb_domain::analysis::ServiceError> {
        let dir = Path::new(data_dir);
        // Opening checks the data is there, as for a count.
        self.get(dir).map_err(service_error)?;
        let tables = crate::cohort_sql::CdrTables::in_dir(dir);
        Ok(crate::cohort_sql::compile(def, today, &tables).total)
    }
}

/// A CDR that cannot be opened: missing (not generated or moved) is "not available yet".
fn service_error(e: CdrError) -> wb_domain::analysis::ServiceError {
    use wb_domain::analysis::ServiceError;
    match &e {
        CdrError::Read { message, .. } if message.contains("No such file") => {
            ServiceError::Unavailable(format!("its data cannot be opened ({e})"))
        }
        _ => ServiceError::Failed(e.to_string()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::generate::{GenerateConfig, generate};
    use crate::index::Index;
    use std::sync::LazyLock;
    use wb_domain::cohort::{AgeRange, Domain, Modifiers, Temporal};

    /// One small CDR with its index, shared by the tests of this module (and the differential
    /// test of `cohort_sql`).
    pub(crate) static CDR: LazyLock<PathBuf> = LazyLock::new(|| {
        let tmp = tempfile::tempdir().unwrap().keep();
        let dir = tmp.join("cdr");
        generate(
            &dir,
            &GenerateConfig {
                seed: 11,
                persons: 600,
                concepts_per_domain: 400,
                threads: 2,
                chunk: 200,
                ..Default::default()
            },
            &|_, _| {},
            &mut |staging| Index::build_and_save(staging).map(|_| ()),
        )
        .unwrap();
        dir
    });

    pub(crate) static ENGINE: LazyLock<Engine> = LazyLock::new(|| Engine::open(&CDR).unwrap());

    pub(crate) fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()
    }

    fn crit(id: &str, kind: CriterionKind) -> Criterion {
        Criterion {
            id: id.into(),
            kind,
            modifiers: Modifiers::default(),
        }
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

    fn domain(domain: Domain, concept_id: i64) -> CriterionKind {
        CriterionKind::Domain {
            domain,
            concept_id,
            include_descendants: true,
            value: None,
        }
    }

    fn count(def: &CohortDefinition) -> u64 {
        ENGINE.evaluate(def, today()).unwrap().total.len()
    }

    #[test]
    fn the_bitmap_path_and_the_event_path_agree() {
        let plain = CohortDefinition {
            include: vec![group(
                "g",
                vec![crit("c", domain(Domain::Condition, 201826))],
            )],
            exclude: vec![],
        };
        let n = count(&plain);
        assert!(n > 0 && n < ENGINE.persons(), "{n}");
        assert_eq!(n, ENGINE.cdr().index.rollup_count(201826));
        // Any age at event: the same people, through the events.
        let mut with_events = plain.clone();
        with_events.include[0].criteria[0].modifiers.age_at_event = Some(AgeRange {
            min: Some(0),
            max: None,
        });
        assert_eq!(count(&with_events), n);
        // First mention, then any age: the same people too.
        let mut first = with_events.clone();
        first.include[0].mention = Mention::FirstMention;
        assert_eq!(count(&first), n);
        // Two or more dates: fewer.
        let mut twice = plain.clone();
        twice.include[0].criteria[0].modifiers.occurrences_at_least = Some(2);
        let t = count(&twice);
        assert!(t > 0 && t < n, "{t} of {n}");
    }

    #[test]
    fn groups_and_exclusions_compose_and_suppressed_groups_are_left_out() {
        let t2d = group("g1", vec![crit("c1", domain(Domain::Condition, 201826))]);
        let insulin = group("g2", vec![crit("c2", domain(Domain::Drug, 1596977))]);
        let def = CohortDefinition {
            include: vec![t2d.clone()],
            exclude: vec![insulin.clone()],
        };
        let e = ENGINE.evaluate(&def, today()).unwrap();
        let (a, b) = (&e.groups[0].1, &e.groups[1].1);
        assert!(!b.is_empty());
        assert_eq!(e.total, a - b);
        assert!(e.total.len() < a.len());
        assert_eq!(e.criteria.len(), 2);
        let mut suppressed = def.clone();
        suppressed.exclude[0].suppressed = true;
        assert_eq!(ENGINE.evaluate(&suppressed, today()).unwrap().total, *a);
    }

    #[test]
    fn a_measurement_value_filter_reads_the_values() {
        let mut want = RoaringBitmap::new();
        let ids = &ENGINE.cdr().index.person_ids;
        crate::parquet_in::scan(
            &CDR.join("measurement.parquet"),
            &[
                ("person_id", DataType::Int64),
                ("measurement_concept_id", DataType::Int64),
                ("value_as_number", DataType::Float64),
            ],
            |cols| {
                let p = cols[0].as_primitive::<Int64Type>();
                let c = cols[1].as_primitive::<Int64Type>();
                let v = cols[2].as_primitive::<Float64Type>();
                for i in 0..p.len() {
                    if c.value(i) == 3004410 && v.is_valid(i) && v.value(i) >= 6.5 {
                        want.insert(ids.binary_search(&p.value(i)).unwrap() as u32);
                    }
                }
                Ok(())
            },
        )
        .unwrap();
        assert!(!want.is_empty());
        let def = CohortDefinition {
            include: vec![group(
                "g",
                vec![crit(
                    "c",
                    CriterionKind::Domain {
                        domain: Domain::Measurement,
                        concept_id: 3004410,
                        include_descendants: false,
                        value: Some(ValueFilter::GreaterThanOrEqualTo { value: 6.5 }),
                    },
                )],
            )],
            exclude: vec![],
        };
        let got = ENGINE.evaluate(&def, today()).unwrap().total;
        assert_eq!(got, want);
        assert!(got.len() < ENGINE.cdr().index.persons_with(3004410));
    }

    #[test]
    fn a_temporal_group_needs_both_events_close_enough() {
        let hba1c = crit(
            "c-a1c",
            CriterionKind::Domain {
                domain: Domain::Measurement,
                concept_id: 3004410,
                include_descendants: true,
                value: None,
            },
        );
        let t2d = crit("c-t2d", domain(Domain::Condition, 201826));
        let mut g = group("g", vec![hba1c]);
        let within = |days| {
            let mut g = g.clone();
            g.temporal = Some(Temporal {
                kind: TemporalKind::WithinXDays { days },
                second: vec![t2d.clone()],
            });
            count(&CohortDefinition {
                include: vec![g],
                exclude: vec![],
            })
        };
        let (near, far) = (within(0), within(36_525));
        assert!(near <= far);
        // Within a century: everyone with both.
        let both = ENGINE.cdr().index.rollup(3004410) & ENGINE.cdr().index.rollup(201826);
        assert_eq!(far, both.len());
        assert!(far > 0);
        g.temporal = Some(Temporal {
            kind: TemporalKind::XOrMoreDaysAfter { days: 36_525 },
            second: vec![t2d.clone()],
        });
        assert_eq!(
            count(&CohortDefinition {
                include: vec![g],
                exclude: vec![]
            }),
            0
        );
    }

    #[test]
    fn counts_carry_the_attrition_and_a_chart_of_the_cohort() {
        let def = CohortDefinition {
            include: vec![
                group("g1", vec![crit("c1", domain(Domain::Condition, 201826))]),
                group(
                    "g2",
                    vec![crit(
                        "c2",
                        CriterionKind::Age {
                            basis: AgeBasis::Current,
                            min: 18,
                            max: 65,
                        },
                    )],
                ),
            ],
            exclude: vec![group("g3", vec![crit("c3", domain(Domain::Drug, 1596977))])],
        };
        let c = ENGINE.counts(&def, today()).unwrap();
        let steps: Vec<u64> = c.attrition.iter().map(|s| s.count).collect();
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0], c.groups[0].count);
        assert!(steps[0] >= steps[1] && steps[1] >= steps[2], "{steps:?}");
        assert_eq!(steps[2], c.total);
        for bars in [
            &c.chart.sex_at_birth,
            &c.chart.race,
            &c.chart.ethnicity,
            &c.chart.age,
        ] {
            assert_eq!(
                bars.iter().map(|b| b.count).sum::<u64>(),
                c.total,
                "{bars:?}"
            );
        }
        assert!(
            c.chart.sex_at_birth.iter().any(|b| b.label == "Female"),
            "{:?}",
            c.chart
        );
        assert!(!c.chart.age.iter().any(|b| b.label == "Under 18"));
    }

    #[test]
    fn concepts_are_checked_against_the_cdr() {
        let def = CohortDefinition {
            include: vec![group(
                "g",
                vec![
                    crit("c1", domain(Domain::Condition, 987_654_321)),
                    crit("c2", domain(Domain::Drug, 201826)),
                    crit("c3", domain(Domain::Condition, 201826)),
                ],
            )],
            exclude: vec![],
        };
        let errors = ENGINE.check(&def);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].location.criterion_id.as_deref(), Some("c1"));
        assert!(errors[0].message.contains("not in this dataset"));
        assert_eq!(errors[1].location.criterion_id.as_deref(), Some("c2"));
        assert!(
            errors[1].message.contains("Condition"),
            "{}",
            errors[1].message
        );
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }

    #[test]
    fn engines_open_once_and_rebuild_an_older_index() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cdr");
        copy_dir(&CDR, &dir);
        let path = Index::path(&dir);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[..8].copy_from_slice(b"WBIDX002");
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(Cdr::open(&dir), Err(CdrError::OldIndex(_))));
        let engines = Engines::default();
        let a = engines.get(&dir).unwrap();
        let b = engines.get(&dir).unwrap();
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        assert_eq!(a.persons(), ENGINE.persons());
        assert!(Cdr::open(&dir).is_ok(), "rebuilt on disk");
    }
}
