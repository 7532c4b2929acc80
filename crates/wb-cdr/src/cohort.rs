//! The index engine for cohort definitions: the fast path of the cohort builder.
//!
//! It answers a [`CohortDefinition`] from the CDR's index, implementing exactly the text of
//! `docs/cohort-definition.md` ("Evaluation"), which [`crate::cohort_sql`] compiles to SQL:
//!
//! - person criteria (demographics, age, deceased, has EHR data) and event criteria without
//!   modifiers are **bitmap algebra** over the index's per-concept person bitmaps and rollups;
//! - event criteria with value filters, mentions or modifiers, and temporal groups, read only
//!   their concepts' row ranges of just the columns they need from the raw event columns
//!   (`index/events/`, [`crate::columns`]: positional reads, nothing to decode), whose rows are
//!   already by person and date within a concept, and work on those events per person;
//!   several concepts' events are merged by a counting sort by person.
//!
//! Groups are evaluated on every core, and the event path's results are kept across
//! definitions in a bounded least-recently-used cache (a builder edit changes one criterion,
//! so the others are answered from it).
//!
//! An [`Engine`] is opened once per CDR and shared: it holds the [`Cdr`] (vocabulary and index)
//! and the person facts (birth dates, demographics, deaths, the CDR date), and computes the
//! consent dates, the "Has EHR data" set and the demographic bitmaps the chart intersects with
//! a cohort the first time a definition needs them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Date32Type, Int64Type};
use roaring::{MultiOps, RoaringBitmap};
use wb_domain::cohort::{
    AgeBasis, CohortDefinition, Criterion, CriterionError, CriterionKind, DateFilter,
    ExpectedDomain, Group, Mention, TemporalKind, ValueFilter,
};

use wb_domain::analysis::{AGE_BANDS, Bar, Chart, Count, Counts};

use crate::CdrError;
use crate::columns::{Col, Columns, NO_PERSON, NO_VALUE, NONE};
use crate::dates::{civil_from_days, days_from_civil};
use crate::search::Cdr;
use crate::sorted::ANSWER_SOURCE;

/// The survey question whose answers are "Sex Assigned at Birth" (its PPI code).
pub const SEX_AT_BIRTH_QUESTION_CODE: &str = wb_domain::analysis::SEX_AT_BIRTH_QUESTION_CODE;

/// The domains whose events make "Has EHR data".
pub const EHR_DOMAINS: [&str; 5] = ["Condition", "Drug", "Procedure", "Visit", "Device"];

/// No visit, in [`Event::visit`].
const NO_VISIT: i64 = i64::MIN;

/// The persons of each value of a person attribute, and by birth year: what demographic
/// criteria and the chart combine with a cohort (bitmap algebra and intersection sizes instead
/// of a pass over the cohort's persons).
struct Facets {
    gender: HashMap<i64, RoaringBitmap>,
    race: HashMap<i64, RoaringBitmap>,
    ethnicity: HashMap<i64, RoaringBitmap>,
    birth_year: BTreeMap<i32, RoaringBitmap>,
}

/// The sex-at-birth answers: each answer's persons, and each person's earliest for the chart.
struct SexAtBirth {
    by_answer: HashMap<i64, RoaringBitmap>,
    /// The persons of each earliest answer (0: none), for the chart.
    chart: HashMap<i64, RoaringBitmap>,
}

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

/// One event of a criterion, as the engine keeps it (`visit` and `visit_code` only when the
/// criterion needs them).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Event {
    person: u32,
    date: i32,
    visit: i64,
    /// The visit's concept, as its code in the columns' dictionary ([`NONE`]: no visit).
    visit_code: u32,
}

/// Which columns a criterion's events carry beyond person and date.
#[derive(Debug, Clone, Copy, Default)]
struct Carry {
    visit: bool,
    visit_code: bool,
}

/// One concept's rows as [`Engine::scan`] reads them: `keep[i]` says whether row `i` is an
/// event passing the value filter; `visit` and `visit_code` are empty unless carried.
struct Rows<'a> {
    person: &'a [u32],
    date: &'a [i32],
    visit: &'a [i64],
    visit_code: &'a [u32],
    keep: &'a [bool],
}

impl Rows<'_> {
    fn event(&self, i: usize) -> Event {
        Event {
            person: self.person[i],
            date: self.date[i],
            visit: self.visit.get(i).copied().unwrap_or(NO_VISIT),
            visit_code: self.visit_code.get(i).copied().unwrap_or(NONE),
        }
    }
}

/// Up to how many occurrence dates the event path tallies per person without sorting the
/// events (memory: persons × (N − 1) dates).
const TALLIED_DATES: u32 = 8;

/// The event path's results kept across definitions: a researcher's edit changes one criterion,
/// so the others are answered from here. Bounded by [`CRITERIA_CACHE_BYTES`], least recently
/// used first out; keyed by what the result depends on (the criterion without its id, the
/// group's mention and the columns asked for; the CDR is the engine's own).
#[derive(Default)]
struct CriteriaCache {
    kept: HashMap<String, Kept>,
    bytes: usize,
    tick: u64,
}

struct Kept {
    found: Arc<Found>,
    bytes: usize,
    used: u64,
}

/// The criteria cache's budget.
pub const CRITERIA_CACHE_BYTES: usize = 256 << 20;

impl CriteriaCache {
    fn get(&mut self, key: &str) -> Option<Arc<Found>> {
        self.tick += 1;
        let k = self.kept.get_mut(key)?;
        k.used = self.tick;
        Some(k.found.clone())
    }

    fn put(&mut self, key: String, found: Arc<Found>) {
        let bytes = found.persons.serialized_size()
            + found
                .events
                .as_ref()
                .map_or(0, |e| e.len() * std::mem::size_of::<Event>())
            + key.len();
        if bytes > CRITERIA_CACHE_BYTES / 4 {
            return;
        }
        self.tick += 1;
        if let Some(old) = self.kept.insert(
            key,
            Kept {
                found,
                bytes,
                used: self.tick,
            },
        ) {
            self.bytes -= old.bytes;
        }
        self.bytes += bytes;
        while self.bytes > CRITERIA_CACHE_BYTES {
            let oldest = self
                .kept
                .iter()
                .min_by_key(|(_, k)| k.used)
                .map(|(key, _)| key.clone())
                .expect("over budget, so not empty");
            let k = self.kept.remove(&oldest).expect("present");
            self.bytes -= k.bytes;
        }
    }
}

/// A criterion's result: its persons, and its events when a temporal group needs them.
#[derive(Clone)]
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
    columns: Option<Columns>,
    consent: OnceLock<Vec<i32>>,
    has_ehr: OnceLock<RoaringBitmap>,
    sex_at_birth: OnceLock<SexAtBirth>,
    facets: OnceLock<Facets>,
    /// The chart's age bands on a day (the last day asked).
    age_bands: Mutex<Option<(i32, Arc<Vec<RoaringBitmap>>)>>,
    criteria_cache: Mutex<CriteriaCache>,
    sex_question: Option<i64>,
}

impl Engine {
    /// Opens the CDR in `dir` (vocabulary, index and person facts).
    pub fn open(dir: &Path) -> Result<Engine, CdrError> {
        Engine::new(Cdr::open(dir)?)
    }

    pub fn new(cdr: Cdr) -> Result<Engine, CdrError> {
        let people = load_people(&cdr)?;
        let columns = Columns::open(&cdr.dir.join("index"))?;
        let sex_question = cdr
            .by_code(SEX_AT_BIRTH_QUESTION_CODE)
            .filter(|c| c.class == "Question")
            .map(|c| c.concept_id);
        Ok(Engine {
            cdr,
            people,
            columns,
            consent: OnceLock::new(),
            has_ehr: OnceLock::new(),
            sex_at_birth: OnceLock::new(),
            facets: OnceLock::new(),
            age_bands: Mutex::new(None),
            criteria_cache: Mutex::new(CriteriaCache::default()),
            sex_question,
        })
    }

    pub fn cdr(&self) -> &Cdr {
        &self.cdr
    }

    /// Forgets the criteria kept from earlier definitions (the benchmark's cold runs).
    pub fn forget_criteria(&self) {
        *self
            .criteria_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = CriteriaCache::default();
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
        let groups: Vec<(bool, &Group)> = def
            .include
            .iter()
            .map(|g| (true, g))
            .chain(def.exclude.iter().map(|g| (false, g)))
            .collect();
        // Groups are independent: each core takes the next one.
        let answers = par_map(&groups, |(_, group)| {
            let mut criteria = Vec::new();
            let persons = self.group(group, today, &mut criteria)?;
            Ok::<_, CdrError>((persons, criteria))
        });
        for ((is_include, group), answer) in groups.into_iter().zip(answers) {
            let (persons, criteria) = answer?;
            out.criteria.extend(criteria);
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
        let carry = match temporal.map(|t| &t.kind) {
            None => None,
            Some(TemporalKind::DuringSameEncounter {}) => Some(Carry {
                visit: true,
                visit_code: false,
            }),
            Some(_) => Some(Carry::default()),
        };
        // Every criterion of the group (and of its second list) on its own, on every core.
        let asked: Vec<(&Criterion, Mention)> = group
            .criteria
            .iter()
            .map(|c| (c, group.mention))
            .chain(
                temporal
                    .into_iter()
                    .flat_map(|t| t.second.iter().map(|c| (c, Mention::AnyMention))),
            )
            .collect();
        let mut firsts = Vec::with_capacity(asked.len());
        for ((c, _), found) in asked.iter().zip(par_map(&asked, |(c, mention)| {
            self.criterion(c, *mention, carry, today)
        })) {
            let found = found?;
            criteria.push((c.id.clone(), found.persons.clone()));
            firsts.push(found);
        }
        let seconds = firsts.split_off(group.criteria.len());
        let Some(t) = temporal else {
            return Ok(firsts.into_iter().map(|f| f.persons).union());
        };
        let merge = |found: Vec<Found>| {
            merge_sorted(
                found
                    .into_iter()
                    .map(|f| f.events.unwrap_or_default())
                    .collect(),
            )
        };
        let (e1, e2) = (merge(firsts), merge(seconds));
        Ok(related(&e1, &e2, t.kind))
    }

    /// A criterion's persons, and its events (sorted by person and date, carrying `events`'
    /// columns) when a temporal group asks for them.
    fn criterion(
        &self,
        c: &Criterion,
        mention: Mention,
        events_wanted: Option<Carry>,
        today: i32,
    ) -> Result<Found, CdrError> {
        let person_set = |persons: RoaringBitmap| Found {
            persons,
            events: None,
        };
        let ix = &self.cdr.index;
        let p = &self.people;
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
                return Ok(person_set(of_values(&self.facets().ethnicity, concept_ids)));
            }
            CriterionKind::GenderIdentity { concept_ids } => {
                return Ok(person_set(of_values(&self.facets().gender, concept_ids)));
            }
            CriterionKind::Race { concept_ids } => {
                return Ok(person_set(of_values(&self.facets().race, concept_ids)));
            }
            CriterionKind::SexAtBirth { concept_ids } => {
                return Ok(person_set(of_values(
                    &self.sex_at_birth()?.by_answer,
                    concept_ids,
                )));
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
        let m = &c.modifiers;
        let plain = value.is_none() && m.is_empty() && mention == Mention::AnyMention;
        if plain && events_wanted.is_none() {
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
        let key = serde_json::to_string(&(&c.kind, m, mention, events_wanted.map(|w| w.visit)))
            .expect("a criterion serialises");
        if let Some(found) = self
            .criteria_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(Found::clone(&found));
        }
        let found = Arc::new(self.events_criterion(&concepts, value, m, mention, events_wanted)?);
        self.criteria_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(key, found.clone());
        Ok(Arc::unwrap_or_clone(found))
    }

    /// An event criterion over `concepts`, read from the event columns.
    fn events_criterion(
        &self,
        concepts: &[i64],
        value: Option<&ValueFilter>,
        m: &wb_domain::cohort::Modifiers,
        mention: Mention,
        events_wanted: Option<Carry>,
    ) -> Result<Found, CdrError> {
        let p = &self.people;
        let person_set = |persons: RoaringBitmap| Found {
            persons,
            events: None,
        };
        let mut carry = events_wanted.unwrap_or_default();
        carry.visit_code = m.during_visit_type.is_some();
        // Every step but the mention and the occurrence dates looks at one event at a time, so
        // without those (and no temporal group to feed) each concept's rows are filtered as
        // they are read and only the persons are kept; a small number of occurrence dates is
        // tallied per person in place (a person's dates so far, up to N − 1 of them).
        let dates = m.event_date.map(|f| match f {
            DateFilter::OnOrBefore { date } => i32::MIN..=days(date),
            DateFilter::OnOrAfter { date } => days(date)..=i32::MAX,
            DateFilter::Between { start, end } => days(start)..=days(end),
        });
        let by_event = |e: &Event| -> bool {
            if let Some(dates) = &dates
                && !dates.contains(&e.date)
            {
                return false;
            }
            if let Some(age) = m.age_at_event {
                let a = p.age_at(e.person, e.date);
                if age.min.is_some_and(|lo| a < lo as i32)
                    || age.max.is_some_and(|hi| a > hi as i32)
                {
                    return false;
                }
            }
            true
        };
        let visit_codes = match (&m.during_visit_type, &self.columns) {
            (Some(v), Some(cols)) => Some(cols.visit_codes(v)),
            _ => None,
        };
        let by_visit = |e: &Event| {
            visit_codes.as_ref().is_none_or(|codes| {
                e.visit_code != NONE && codes.binary_search(&e.visit_code).is_ok()
            })
        };
        let at_least = m.occurrences_at_least.unwrap_or(1).max(1);
        if mention == Mention::AnyMention && events_wanted.is_none() && at_least <= TALLIED_DATES {
            let passes = |rows: &Rows<'_>, i: usize| {
                rows.keep[i] && {
                    let e = rows.event(i);
                    by_event(&e) && by_visit(&e)
                }
            };
            // The concepts' row ranges in as many shares of rows as there are cores, each
            // share scanned on its own and the answers combined.
            let shares = shares(self.ranges(concepts));
            if at_least == 1 {
                let sets = par_map(&shares, |ranges| {
                    let mut sets = Vec::new();
                    self.scan_ranges(ranges, value, carry, |rows| {
                        let mut out = RoaringBitmap::new();
                        for i in (0..rows.keep.len()).filter(|&i| passes(rows, i)) {
                            out.push(rows.person[i]);
                        }
                        sets.push(out);
                    })?;
                    Ok::<_, CdrError>(sets.union())
                });
                let mut out = RoaringBitmap::new();
                for set in sets {
                    out |= set?;
                }
                return Ok(person_set(out));
            }
            let persons = self.persons() as usize;
            let tallies = par_map(&shares, |ranges| {
                let mut tally = Tally::new(persons, at_least - 1);
                self.scan_ranges(ranges, value, carry, |rows| {
                    let mut last = (NO_PERSON, i32::MIN);
                    for i in (0..rows.keep.len()).filter(|&i| passes(rows, i)) {
                        let at = (rows.person[i], rows.date[i]);
                        // Rows are by person and date within a concept: repeats are adjacent.
                        if at != last {
                            last = at;
                            tally.add(at.0, at.1);
                        }
                    }
                })?;
                Ok::<_, CdrError>(tally)
            });
            let mut tallies = tallies.into_iter();
            let mut all = tallies.next().expect("one share at least")?;
            for t in tallies {
                all.absorb(&t?);
            }
            return Ok(person_set(all.qualified()));
        }
        let lists = self.read(concepts, value, carry)?;
        let mut events = merge_sorted(lists);
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
        events.retain(|e| by_event(e) && by_visit(e));
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
        let mut persons = RoaringBitmap::new();
        for e in &events {
            persons.push(e.person);
        }
        Ok(Found {
            persons,
            events: events_wanted.is_some().then_some(events),
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

    /// The demographics of `set`: sex at birth, current age bands, race, ethnicity. Each bar is
    /// the size of the cohort's intersection with that value's persons (no pass over the
    /// cohort, which may hold most of the CDR).
    pub fn chart(&self, set: &RoaringBitmap, today: NaiveDate) -> Result<Chart, CdrError> {
        let today = days(today);
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
        let bars = |by: &HashMap<i64, RoaringBitmap>| -> Vec<Bar> {
            let mut bars: Vec<Bar> = by
                .iter()
                .map(|(k, persons)| (*k, set.intersection_len(persons)))
                .filter(|(_, n)| *n > 0)
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
        let sex = self.sex_at_birth()?;
        let f = self.facets();
        let ages = self.age_bands(today);
        Ok(Chart {
            sex_at_birth: bars(&sex.chart),
            age: AGE_BANDS
                .iter()
                .zip(ages.iter().map(|band| set.intersection_len(band)))
                .filter(|(band, n)| *n > 0 || band.1 >= 18)
                .map(|((label, _, _), count)| Bar {
                    label: (*label).to_owned(),
                    count,
                })
                .collect(),
            race: bars(&f.race),
            ethnicity: bars(&f.ethnicity),
        })
    }

    /// The persons of each age band on `day` (kept for the last day asked).
    fn age_bands(&self, day: i32) -> Arc<Vec<RoaringBitmap>> {
        let mut kept = self.age_bands.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((d, bands)) = kept.as_ref()
            && *d == day
        {
            return bands.clone();
        }
        let bands: Arc<Vec<RoaringBitmap>> = Arc::new(
            AGE_BANDS
                .iter()
                .map(|(_, lo, hi)| self.ages_on(day, *lo, *hi))
                .collect(),
        );
        *kept = Some((day, bands.clone()));
        bands
    }

    fn facets(&self) -> &Facets {
        self.facets.get_or_init(|| {
            let p = &self.people;
            let mut f = Facets {
                gender: HashMap::new(),
                race: HashMap::new(),
                ethnicity: HashMap::new(),
                birth_year: BTreeMap::new(),
            };
            // Persons in bit order, so every bitmap is appended to.
            for b in 0..p.birth_year.len() {
                let bit = b as u32;
                f.gender.entry(p.gender[b]).or_default().push(bit);
                f.race.entry(p.race[b]).or_default().push(bit);
                f.ethnicity.entry(p.ethnicity[b]).or_default().push(bit);
                f.birth_year.entry(p.birth_year[b]).or_default().push(bit);
            }
            f
        })
    }

    /// The sex-at-birth answers (source: observation answers).
    fn sex_at_birth(&self) -> Result<&SexAtBirth, CdrError> {
        if let Some(s) = self.sex_at_birth.get() {
            return Ok(s);
        }
        let n = self.people.birth_year.len();
        let mut by_person = vec![0i64; n];
        let mut by_answer: HashMap<i64, RoaringBitmap> = HashMap::new();
        if let Some(q) = self.sex_question {
            let answers: Vec<i64> = self
                .cdr
                .descendants(q)
                .into_iter()
                .filter(|a| self.cdr.concept(*a).is_some_and(|c| c.class == "Answer"))
                .collect();
            let mut first = vec![i32::MAX; n];
            for a in answers {
                let mut persons = RoaringBitmap::new();
                for (person, date, source) in self.read_sourced(&[a])? {
                    if source != ANSWER_SOURCE as u8 {
                        continue;
                    }
                    persons.push(person);
                    let b = person as usize;
                    if (date, a) < (first[b], by_person[b]) {
                        first[b] = date;
                        by_person[b] = a;
                    }
                }
                by_answer.insert(a, persons);
            }
        }
        let mut chart: HashMap<i64, RoaringBitmap> = HashMap::new();
        for (b, a) in by_person.iter().enumerate() {
            chart.entry(*a).or_default().push(b as u32);
        }
        Ok(self
            .sex_at_birth
            .get_or_init(|| SexAtBirth { by_answer, chart }))
    }

    /// Persons whose age on `day` is within `min..=max`: the birth years wholly inside, and the
    /// two boundary years' persons whose birthday has (or has not yet) come.
    fn ages_on(&self, day: i32, min: i32, max: i32) -> RoaringBitmap {
        let (y, m, d) = civil_from_days(day);
        let md = m * 100 + d;
        let p = &self.people;
        let years = &self.facets().birth_year;
        // Born in year `by`, the age on `day` is `y - by` once the birthday has come, else one
        // less: every `by` with `min + 1 <= y - by <= max` is inside whatever the birthday.
        let (lo, hi) = (
            y.saturating_sub(max),
            y.saturating_sub(min).saturating_sub(1),
        );
        let mut out = if lo <= hi {
            years.range(lo..=hi).map(|(_, b)| b).union()
        } else {
            RoaringBitmap::new()
        };
        // `y - by == min`: only once the birthday has come.
        if let Some(by) = y.checked_sub(min)
            && let Some(born) = years.get(&by)
        {
            out |= born
                .iter()
                .filter(|&b| p.birth_md[b as usize] <= md)
                .collect::<RoaringBitmap>();
        }
        // `y - by == max + 1`: only before the birthday.
        if let Some(by) = max.checked_add(1).and_then(|a| y.checked_sub(a))
            && let Some(born) = years.get(&by)
        {
            out |= born
                .iter()
                .filter(|&b| p.birth_md[b as usize] > md)
                .collect::<RoaringBitmap>();
        }
        out
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
            .expect("observation is an event table") as u8;
        let mut out = vec![i32::MIN; self.people.birth_year.len()];
        for (person, date, source) in self.read_sourced(&questions)? {
            if source == observation {
                let d = &mut out[person as usize];
                if *d == i32::MIN || date < *d {
                    *d = date;
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

    fn columns(&self) -> Result<&Columns, CdrError> {
        self.columns.as_ref().ok_or_else(|| {
            CdrError::Invalid(format!(
                "{} is missing: rebuild the index with `wb cdr index`",
                self.cdr
                    .dir
                    .join("index")
                    .join(crate::columns::DIR)
                    .display()
            ))
        })
    }

    /// Each concept's row range, those with rows.
    fn ranges(&self, concepts: &[i64]) -> Vec<(u64, u64)> {
        let mut ranges: Vec<(u64, u64)> = concepts
            .iter()
            .filter_map(|c| self.cdr.index.event_rows.get(c).copied())
            .filter(|r| r.1 > 0)
            .collect();
        ranges.sort_unstable();
        ranges.dedup();
        ranges
    }

    /// Each concept's rows, read with the columns `carry` asks for and marked by whether they
    /// are events that pass `value`, handed to `each` one concept at a time.
    fn scan(
        &self,
        concepts: &[i64],
        value: Option<&ValueFilter>,
        carry: Carry,
        each: impl FnMut(&Rows<'_>),
    ) -> Result<(), CdrError> {
        self.scan_ranges(&self.ranges(concepts), value, carry, each)
    }

    /// [`Engine::scan`] over these row ranges.
    fn scan_ranges(
        &self,
        ranges: &[(u64, u64)],
        value: Option<&ValueFilter>,
        carry: Carry,
        mut each: impl FnMut(&Rows<'_>),
    ) -> Result<(), CdrError> {
        if ranges.is_empty() {
            return Ok(());
        }
        let cols = self.columns()?;
        let value_codes = match value {
            Some(ValueFilter::In { value_concept_ids }) => {
                Some(cols.value_codes(value_concept_ids))
            }
            _ => None,
        };
        let (mut person, mut date) = (Vec::<u32>::new(), Vec::<i32>::new());
        let (mut number, mut code) = (Vec::<f64>::new(), Vec::<u32>::new());
        let (mut visit, mut visit_code) = (Vec::<i64>::new(), Vec::<u32>::new());
        let mut keep = Vec::<bool>::new();
        for &(start, len) in ranges {
            person.clear();
            date.clear();
            cols.read(Col::Person, start, len, &mut person)?;
            cols.read(Col::Date, start, len, &mut date)?;
            keep.clear();
            keep.extend(person.iter().map(|p| *p != NO_PERSON));
            match (value, &value_codes) {
                (None, _) => {}
                (Some(_), Some(codes)) => {
                    code.clear();
                    cols.read(Col::ValueConcept, start, len, &mut code)?;
                    for (k, c) in keep.iter_mut().zip(&code) {
                        *k &= *c != NONE && codes.binary_search(c).is_ok();
                    }
                }
                (Some(v), None) => {
                    number.clear();
                    cols.read(Col::Value, start, len, &mut number)?;
                    for (k, x) in keep.iter_mut().zip(&number) {
                        *k &= x.to_bits() != NO_VALUE && passes(v, *x);
                    }
                }
            }
            visit.clear();
            if carry.visit {
                cols.read(Col::Visit, start, len, &mut visit)?;
            }
            visit_code.clear();
            if carry.visit_code {
                cols.read(Col::VisitConcept, start, len, &mut visit_code)?;
            }
            each(&Rows {
                person: &person,
                date: &date,
                visit: &visit,
                visit_code: &visit_code,
                keep: &keep,
            });
        }
        Ok(())
    }

    /// Each concept's events that pass `value` (one list per concept, by person and date),
    /// carrying what `carry` asks for.
    fn read(
        &self,
        concepts: &[i64],
        value: Option<&ValueFilter>,
        carry: Carry,
    ) -> Result<Vec<Vec<Event>>, CdrError> {
        let mut out = Vec::new();
        self.scan(concepts, value, carry, |rows| {
            out.push(
                (0..rows.keep.len())
                    .filter(|&i| rows.keep[i])
                    .map(|i| rows.event(i))
                    .collect(),
            );
        })?;
        Ok(out)
    }

    /// The `(person, date, source)` of every event of these concepts.
    fn read_sourced(&self, concepts: &[i64]) -> Result<Vec<(u32, i32, u8)>, CdrError> {
        let ranges = self.ranges(concepts);
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        let cols = self.columns()?;
        let mut out = Vec::new();
        let (mut person, mut date, mut source) = (Vec::<u32>::new(), Vec::<i32>::new(), Vec::new());
        for (start, len) in ranges {
            person.clear();
            date.clear();
            source.clear();
            cols.read(Col::Person, start, len, &mut person)?;
            cols.read(Col::Date, start, len, &mut date)?;
            cols.read::<u8>(Col::Source, start, len, &mut source)?;
            out.extend(
                (0..len as usize)
                    .filter(|&i| person[i] != NO_PERSON)
                    .map(|i| (person[i], date[i], source[i])),
            );
        }
        Ok(out)
    }
}

/// Does this `value_as_number` pass the value filter (a numeric one)?
fn passes(v: &ValueFilter, x: f64) -> bool {
    match v {
        ValueFilter::Equal { value } => x == *value,
        ValueFilter::NotEqual { value } => x != *value,
        ValueFilter::LessThan { value } => x < *value,
        ValueFilter::GreaterThan { value } => x > *value,
        ValueFilter::LessThanOrEqualTo { value } => x <= *value,
        ValueFilter::GreaterThanOrEqualTo { value } => x >= *value,
        ValueFilter::Between { min, max } => x >= *min && x <= *max,
        ValueFilter::In { .. } => false,
    }
}

/// The persons of any of these values.
fn of_values(by: &HashMap<i64, RoaringBitmap>, ids: &[i64]) -> RoaringBitmap {
    ids.iter().filter_map(|id| by.get(id)).union()
}

/// The machine's cores, asked once (on Linux the answer reads cgroup files).
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `f` of every item, in order, on up to as many threads as the machine has cores (the
/// caller's thread among them), each taking the next item.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = cores().min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= items.len() {
                return done;
            }
            done.push((i, f(&items[i])));
        }
    };
    let mut all: Vec<(usize, R)> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in helpers {
            all.extend(h.join().expect("a cohort worker panicked"));
        }
        all
    });
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// Each person's distinct dates of some events, up to `room` of them, and who has more
/// (`room + 1` dates or more: "Number Of Occurrence Dates", N = `room + 1`). One array of
/// `room` slots per person: [`Tally::EMPTY`] for a free slot, [`Tally::OVER`] in the first
/// slot once the person has more (event dates are never either).
struct Tally {
    room: usize,
    slots: Vec<i32>,
}

impl Tally {
    const EMPTY: i32 = i32::MIN;
    const OVER: i32 = i32::MAX;

    fn new(persons: usize, room: u32) -> Tally {
        let room = room as usize;
        Tally {
            room,
            slots: vec![Self::EMPTY; persons * room],
        }
    }

    fn add(&mut self, person: u32, date: i32) {
        let at = person as usize * self.room;
        let mine = &mut self.slots[at..at + self.room];
        if mine[0] == Self::OVER {
            return;
        }
        for slot in mine.iter_mut() {
            if *slot == date {
                return;
            }
            if *slot == Self::EMPTY {
                *slot = date;
                return;
            }
        }
        mine[0] = Self::OVER;
    }

    /// Adds another tally of the same persons (other events).
    fn absorb(&mut self, other: &Tally) {
        for (b, theirs) in other.slots.chunks_exact(self.room).enumerate() {
            if theirs[0] == Self::OVER {
                self.slots[b * self.room] = Self::OVER;
                continue;
            }
            for &date in theirs.iter().take_while(|d| **d != Self::EMPTY) {
                self.add(b as u32, date);
            }
        }
    }

    fn qualified(&self) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        for (b, mine) in self.slots.chunks_exact(self.room).enumerate() {
            if mine[0] == Self::OVER {
                out.push(b as u32);
            }
        }
        out
    }
}

/// Row ranges cut into one share per core of equal rows; a range may be cut in two (its
/// rows stay in order, and a person's may fall in two shares: the callers union persons and
/// add tallies, so that changes nothing). Few rows stay one share.
fn shares(ranges: Vec<(u64, u64)>) -> Vec<Vec<(u64, u64)>> {
    let cores = cores() as u64;
    let total: u64 = ranges.iter().map(|r| r.1).sum();
    if cores <= 1 || total < SHARED_FROM {
        return vec![ranges];
    }
    let per = total.div_ceil(cores);
    let mut out = vec![Vec::new()];
    let mut room = per;
    for (mut start, mut len) in ranges {
        while len > 0 {
            if room == 0 {
                out.push(Vec::new());
                room = per;
            }
            let take = len.min(room);
            out.last_mut().expect("one share").push((start, take));
            (start, len, room) = (start + take, len - take, room - take);
        }
    }
    out
}

/// From how many rows an event criterion is scanned on every core (any number in tests, so
/// the differential test goes through the shares).
const SHARED_FROM: u64 = if cfg!(test) { 2 } else { 1 << 15 };

/// Lists each sorted by person and date, as one list sorted the same way.
fn merge_sorted(mut lists: Vec<Vec<Event>>) -> Vec<Event> {
    lists.retain(|l| !l.is_empty());
    match lists.len() {
        0 => Vec::new(),
        1 => lists.pop().expect("one list"),
        _ => {
            let total: usize = lists.iter().map(Vec::len).sum();
            if total < COUNTING_SORT_FROM {
                let mut all: Vec<Event> = lists.concat();
                all.sort_unstable_by_key(|e| (e.person, e.date));
                return all;
            }
            // A counting sort by person (persons are dense bit numbers), then each person's
            // few events by date: linear in the events where a comparison sort of millions
            // of them is not.
            let persons = lists
                .iter()
                .filter_map(|l| l.last())
                .map(|e| e.person as usize + 1)
                .max()
                .unwrap_or(0);
            // `next[p]`: where person p's next event goes (it ends at p + 1's start).
            let mut next = vec![0u32; persons + 1];
            for e in lists.iter().flatten() {
                next[e.person as usize + 1] += 1;
            }
            for i in 1..next.len() {
                next[i] += next[i - 1];
            }
            let mut all = vec![lists[0][0]; total];
            for e in lists.iter().flatten() {
                let at = &mut next[e.person as usize];
                all[*at as usize] = *e;
                *at += 1;
            }
            let mut begin = 0;
            for &end in &next[..persons] {
                let one = &mut all[begin..end as usize];
                if !one.is_sorted_by_key(|e| e.date) {
                    one.sort_unstable_by_key(|e| e.date);
                }
                begin = end as usize;
            }
            all
        }
    }
}

/// From how many events [`merge_sorted`] counts rather than compares.
const COUNTING_SORT_FROM: usize = 1 << 16;

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
    fn merging_many_events_counts_them_into_person_and_date_order() {
        // Lists as the columns give them (each by person, then date), large enough for the
        // counting sort, with ties and persons in several lists.
        let mut rng = crate::rng::Stream::new(7, "merge").at(0);
        let lists: Vec<Vec<Event>> = (0..5)
            .map(|l| {
                let mut list: Vec<Event> = (0..(COUNTING_SORT_FROM / 2))
                    .map(|i| Event {
                        person: (rng.below(5_000)) as u32,
                        date: (rng.below(400)) as i32,
                        visit: (l * 1_000_000 + i) as i64,
                        visit_code: l as u32,
                    })
                    .collect();
                list.sort_unstable_by_key(|e| (e.person, e.date));
                list
            })
            .collect();
        let mut expected: Vec<Event> = lists.concat();
        let merged = merge_sorted(lists);
        assert!(merged.len() >= COUNTING_SORT_FROM);
        assert!(merged.is_sorted_by_key(|e| (e.person, e.date)));
        let key = |e: &Event| (e.person, e.date, e.visit, e.visit_code);
        let mut got: Vec<_> = merged.iter().map(key).collect();
        got.sort_unstable();
        expected.sort_unstable_by_key(key);
        assert_eq!(got, expected.iter().map(key).collect::<Vec<_>>());
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
                let v = cols[2].as_primitive::<datafusion::arrow::datatypes::Float64Type>();
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
