//! Synthetic clinical events: each person's observation period, visits, conditions, drugs,
//! procedures, measurements (with values and units), observations, survey answers, devices and
//! death, as a pure function of `(seed, person index)` and the vocabulary.
//!
//! Shape (performance.md §5.2):
//! - about 65% of persons have EHR data; their event count is lognormal (median 60, σ 1.2, at
//!   most 4,000), so a few persons have thousands of events;
//! - events hang off visits and share their dates; background concepts come from a small
//!   personal set per domain, drawn Zipf-like from the domain's leaves (so upper hierarchy
//!   nodes aggregate realistically and distinct person–concept pairs are a fraction of events);
//! - phenotype trajectories whose prevalence depends on age and sex: type 2 diabetes (then
//!   metformin 0–90 days after diagnosis and refills, insulin for some, HbA1c measurements above
//!   6.5% at diagnosis), hypertension (raised systolic pressure), chronic kidney disease (more
//!   likely with either), depression and PTSD;
//! - everyone answers The Basics at enrolment and gets physical measurements (BMI, systolic
//!   pressure); most answer Lifestyle and Overall Health; 1–4% die before the cutoff.

use crate::dates::days_from_civil;
use crate::persons::{self, FEMALE, Person, PersonConfig};
use crate::rng::{Rng, Stream, mix64};
use crate::rows::{TableRows, Val};
use crate::schema;
use crate::vocabulary::{self, Domain, SURVEY_ID_BASE, SURVEYS, SYNTHETIC_ID_BASE, Vocabulary};

// Concepts the trajectories use (public OMOP ids, present in the generated vocabulary).
pub const TYPE_2_DIABETES: i64 = 201826;
pub const ESSENTIAL_HYPERTENSION: i64 = 320128;
pub const CHRONIC_KIDNEY_DISEASE: i64 = 46271022;
pub const PTSD: i64 = 436676;
pub const DEPRESSIVE_DISORDER: i64 = 440383;
pub const METFORMIN: i64 = 1503297;
pub const INSULIN: i64 = 1596977;
pub const HBA1C: i64 = 3004410;
pub const BMI: i64 = 3038553;
pub const LDL: i64 = 3028437;
pub const SYSTOLIC_BP: i64 = 3004249;

const INPATIENT: i64 = 9201;
const OUTPATIENT: i64 = 9202;
const EMERGENCY: i64 = 9203;
const TYPE_EHR: i64 = 32817;
const TYPE_SURVEY: i64 = 32862;
const TYPE_REGISTRY: i64 = 32879;
const UNIT_PERCENT: i64 = 8554;
const UNIT_MG_DL: i64 = 8840;
const UNIT_MMOL_L: i64 = 8753;
const UNIT_G_DL: i64 = 8713;
const UNIT_MMHG: i64 = 8876;
const UNIT_KG_M2: i64 = 9531;
const POSITIVE: i64 = 45884084;
const NEGATIVE: i64 = 45878583;

/// Ids of a person's rows in each table are `person_id * ROW_ID_SPAN + n`.
pub const ROW_ID_SPAN: i64 = 100_000;

/// The most events of the background mix one person gets.
const MAX_EVENTS: f64 = 4_000.0;

/// What the generator draws from: per generated domain, the leaf concepts in popularity order.
#[derive(Debug, Clone)]
pub struct Catalog {
    seed: u64,
    /// Indexed like [`Domain::ALL`].
    ranked_leaves: Vec<Vec<i64>>,
}

impl Catalog {
    pub fn new(v: &Vocabulary, seed: u64) -> Self {
        let mut has_child = std::collections::HashSet::new();
        for (_, p) in &v.is_a {
            has_child.insert(*p);
        }
        let ranked_leaves = Domain::ALL
            .iter()
            .map(|d| {
                let mut leaves: Vec<i64> = v
                    .concepts
                    .iter()
                    .filter(|c| {
                        c.domain == *d
                            && (SYNTHETIC_ID_BASE..SURVEY_ID_BASE).contains(&c.concept_id)
                            && !has_child.contains(&c.concept_id)
                    })
                    .map(|c| c.concept_id)
                    .collect();
                // Popularity order: a seeded shuffle, so rank does not follow id or depth.
                leaves.sort_by_key(|id| (mix64(seed ^ mix64(*id as u64)), *id));
                leaves
            })
            .collect();
        Self {
            seed,
            ranked_leaves,
        }
    }

    fn leaves(&self, d: Domain) -> &[i64] {
        let i = Domain::ALL
            .iter()
            .position(|x| *x == d)
            .expect("generated domain");
        &self.ranked_leaves[i]
    }
}

/// The rows of every clinical table, filled person after person.
pub struct Clinical {
    pub person: TableRows,
    pub observation_period: TableRows,
    pub visit_occurrence: TableRows,
    pub condition_occurrence: TableRows,
    pub drug_exposure: TableRows,
    pub procedure_occurrence: TableRows,
    pub measurement: TableRows,
    pub observation: TableRows,
    pub device_exposure: TableRows,
    pub death: TableRows,
}

impl Default for Clinical {
    fn default() -> Self {
        Self::new()
    }
}

impl Clinical {
    pub fn new() -> Self {
        Self {
            person: TableRows::new(&schema::PERSON),
            observation_period: TableRows::new(&schema::OBSERVATION_PERIOD),
            visit_occurrence: TableRows::new(&schema::VISIT_OCCURRENCE),
            condition_occurrence: TableRows::new(&schema::CONDITION_OCCURRENCE),
            drug_exposure: TableRows::new(&schema::DRUG_EXPOSURE),
            procedure_occurrence: TableRows::new(&schema::PROCEDURE_OCCURRENCE),
            measurement: TableRows::new(&schema::MEASUREMENT),
            observation: TableRows::new(&schema::OBSERVATION),
            device_exposure: TableRows::new(&schema::DEVICE_EXPOSURE),
            death: TableRows::new(&schema::DEATH),
        }
    }

    /// Every table, in a fixed order.
    pub fn tables_mut(&mut self) -> [&mut TableRows; 10] {
        [
            &mut self.person,
            &mut self.observation_period,
            &mut self.visit_occurrence,
            &mut self.condition_occurrence,
            &mut self.drug_exposure,
            &mut self.procedure_occurrence,
            &mut self.measurement,
            &mut self.observation,
            &mut self.device_exposure,
            &mut self.death,
        ]
    }
}

fn weighted(r: &mut Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = r.unit() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The value distribution of a measurement concept: deterministic in the concept id.
struct Lab {
    qualitative: bool,
    mean: f64,
    sd: f64,
    unit: i64,
}

fn lab(seed: u64, concept_id: i64) -> Lab {
    match concept_id {
        HBA1C => Lab {
            qualitative: false,
            mean: 5.5,
            sd: 0.45,
            unit: UNIT_PERCENT,
        },
        BMI => Lab {
            qualitative: false,
            mean: 29.5,
            sd: 6.5,
            unit: UNIT_KG_M2,
        },
        LDL => Lab {
            qualitative: false,
            mean: 112.0,
            sd: 33.0,
            unit: UNIT_MG_DL,
        },
        SYSTOLIC_BP => Lab {
            qualitative: false,
            mean: 121.0,
            sd: 13.0,
            unit: UNIT_MMHG,
        },
        _ => {
            let mut r = Stream::new(seed, "lab").at(concept_id as u64);
            let qualitative = r.chance(0.1);
            let mean = (300f64.ln() * r.unit()).exp();
            let sd = mean * (0.08 + 0.12 * r.unit());
            let unit = [UNIT_MG_DL, UNIT_MMOL_L, UNIT_G_DL, UNIT_PERCENT][r.below(4) as usize];
            Lab {
                qualitative,
                mean,
                sd,
                unit,
            }
        }
    }
}

/// Ids of one person's rows, table by table.
struct Ids {
    base: i64,
    next: [i64; 7],
}

impl Ids {
    fn next(&mut self, table: usize) -> i64 {
        let n = self.next[table];
        self.next[table] += 1;
        debug_assert!(n < ROW_ID_SPAN);
        self.base + n
    }
}
const T_VISIT: usize = 0;
const T_CONDITION: usize = 1;
const T_DRUG: usize = 2;
const T_PROCEDURE: usize = 3;
const T_MEASUREMENT: usize = 4;
const T_OBSERVATION: usize = 5;
const T_DEVICE: usize = 6;

struct Visit {
    id: i64,
    date: i32,
}

/// What to generate for each person.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventConfig {
    pub seed: u64,
    pub persons: PersonConfig,
}

impl EventConfig {
    /// The CDR's cutoff date: July 1st of the cutoff year.
    pub fn cutoff(&self) -> i32 {
        days_from_civil(self.persons.cutoff_year, 7, 1)
    }
}

/// Appends person `index`'s rows to `out`.
pub fn generate_person(cat: &Catalog, cfg: &EventConfig, index: u64, out: &mut Clinical) {
    let p = persons::person(&cfg.persons, index);
    let pid = p.person_id;
    let mut r = Stream::new(cfg.seed, "events").at(index);
    let mut ids = Ids {
        base: pid * ROW_ID_SPAN,
        next: [0; 7],
    };
    let cutoff = cfg.cutoff();
    let birth = days_from_civil(p.year_of_birth, p.month_of_birth, p.day_of_birth);
    let consent = (days_from_civil(
        p.year_of_birth + p.age_at_consent as i32,
        p.month_of_birth,
        p.day_of_birth,
    ) + r.below(365) as i32)
        .min(cutoff - 30);
    let age = f64::from(p.age_at_consent);
    let death = r
        .chance(0.004 + 0.0004 * age)
        .then(|| consent + 1 + r.below((cutoff - consent - 1).max(1) as u64) as i32);
    let end = death.unwrap_or(cutoff);
    let start = if p.has_ehr {
        (consent - (365.0 * (1.0 + 19.0 * r.unit())) as i32).max(birth + 365)
    } else {
        consent
    };

    out.person.push(&[
        Val::Int(pid),
        Val::Int(p.gender_concept_id),
        Val::Int(i64::from(p.year_of_birth)),
        Val::Int(i64::from(p.month_of_birth)),
        Val::Int(i64::from(p.day_of_birth)),
        Val::Int(p.race_concept_id),
        Val::Int(p.ethnicity_concept_id),
        Val::Null,
        Val::Text(&format!("P{pid:09}")),
    ]);
    out.observation_period.push(&[
        Val::Int(pid),
        Val::Int(pid),
        Val::Date(start),
        Val::Date(end),
        Val::Int(if p.has_ehr { TYPE_EHR } else { TYPE_REGISTRY }),
    ]);
    if let Some(d) = death {
        out.death.push(&[
            Val::Int(pid),
            Val::Date(d),
            Val::Int(TYPE_REGISTRY),
            Val::Null,
        ]);
    }

    // Phenotypes (drawn for everyone, so survey answers can follow them).
    let female = p.gender_concept_id == FEMALE;
    let diabetic = r.chance((0.02 + 0.0035 * (age - 18.0)).min(0.3));
    let hypertensive = r.chance((0.08 + 0.007 * (age - 18.0)).min(0.6));
    let ckd =
        r.chance(0.02 + if diabetic { 0.12 } else { 0.0 } + if hypertensive { 0.06 } else { 0.0 });
    let depressed = r.chance(if female { 0.16 } else { 0.10 });
    let ptsd = r.chance(0.03);

    surveys(&p, &mut r, &mut ids, consent, end, diabetic, out);
    // Physical measurements at enrolment.
    if r.chance(0.9) {
        let bmi = (29.5 + 6.5 * r.normal() + if diabetic { 3.0 } else { 0.0 }).clamp(14.0, 70.0);
        let sbp = if hypertensive { 142.0 } else { 121.0 } + 14.0 * r.normal();
        for (concept, value, unit) in [
            (BMI, bmi, UNIT_KG_M2),
            (SYSTOLIC_BP, sbp.round(), UNIT_MMHG),
        ] {
            out.measurement.push(&[
                Val::Int(ids.next(T_MEASUREMENT)),
                Val::Int(pid),
                Val::Int(concept),
                Val::Date(consent),
                Val::Int(TYPE_REGISTRY),
                Val::Float(round2(value)),
                Val::Null,
                Val::Int(unit),
                Val::Null,
                Val::Null,
                Val::Null,
            ]);
        }
    }
    if !p.has_ehr {
        return;
    }

    // Visits.
    let n_events = (60f64.ln() + 1.2 * r.normal()).exp().clamp(4.0, MAX_EVENTS);
    let n_visits = ((n_events / 6.0) as usize).max(1);
    let span = (end - start).max(1) as u64;
    let mut dates: Vec<i32> = (0..n_visits)
        .map(|_| start + r.below(span) as i32)
        .collect();
    dates.sort_unstable();
    let visits: Vec<Visit> = dates
        .into_iter()
        .map(|date| {
            let id = ids.next(T_VISIT);
            let (concept, stay) = match weighted(&mut r, &[0.75, 0.15, 0.10]) {
                0 => (OUTPATIENT, 0),
                1 => (EMERGENCY, 0),
                _ => (INPATIENT, 1 + r.below(10) as i32),
            };
            out.visit_occurrence.push(&[
                Val::Int(id),
                Val::Int(pid),
                Val::Int(concept),
                Val::Date(date),
                Val::Date((date + stay).min(end)),
                Val::Int(TYPE_EHR),
            ]);
            Visit { id, date }
        })
        .collect();

    let mut e = Emit {
        pid,
        end,
        ids: &mut ids,
        out,
        seed: cat.seed,
    };
    // Trajectories.
    let first_part = |r: &mut Rng| r.below((visits.len() as u64 * 4 / 5).max(1)) as usize;
    if diabetic {
        let dx = first_part(&mut r);
        let dx_date = visits[dx].date;
        e.condition(TYPE_2_DIABETES, &visits[dx]);
        e.measurement_value(HBA1C, &visits[dx], 8.1 + 1.2 * r.normal().abs());
        for v in &visits[dx + 1..] {
            if r.chance(0.3) {
                e.condition(TYPE_2_DIABETES, v);
            }
            if r.chance(0.5) {
                e.measurement_value(HBA1C, v, 7.2 + 1.0 * r.normal());
            }
        }
        if r.chance(0.85) {
            e.refills(METFORMIN, dx_date + r.below(91) as i32, 90, 40);
        }
        if r.chance(0.25) {
            e.refills(INSULIN, dx_date + 180 + r.below(720) as i32, 90, 20);
        }
    }
    if hypertensive {
        let dx = first_part(&mut r);
        e.condition(ESSENTIAL_HYPERTENSION, &visits[dx]);
        for v in &visits[dx..] {
            if r.chance(0.6) {
                e.measurement_value(SYSTOLIC_BP, v, (142.0 + 16.0 * r.normal()).round());
            }
        }
    } else {
        for v in &visits {
            if r.chance(0.2) {
                e.measurement_value(SYSTOLIC_BP, v, (121.0 + 13.0 * r.normal()).round());
            }
        }
    }
    for (has, concept, repeat) in [
        (ckd, CHRONIC_KIDNEY_DISEASE, 0.3),
        (depressed, DEPRESSIVE_DISORDER, 0.2),
        (ptsd, PTSD, 0.2),
    ] {
        if has {
            let dx = r.below(visits.len() as u64) as usize;
            e.condition(concept, &visits[dx]);
            for v in &visits[dx + 1..] {
                if r.chance(repeat) {
                    e.condition(concept, v);
                }
            }
        }
    }
    if !diabetic && r.chance(0.2) {
        let v = &visits[r.below(visits.len() as u64) as usize];
        e.measurement_value(HBA1C, v, 5.4 + 0.4 * r.normal());
    }
    if r.chance(0.4) {
        for v in &visits {
            if r.chance(0.1) {
                e.measurement_value(LDL, v, (112.0 + 33.0 * r.normal()).max(20.0));
            }
        }
    }

    // Background events from a personal concept set per domain.
    const MIX: [(Domain, f64); 6] = [
        (Domain::Condition, 0.10),
        (Domain::Drug, 0.15),
        (Domain::Measurement, 0.45),
        (Domain::Procedure, 0.09),
        (Domain::Observation, 0.06),
        (Domain::Device, 0.01),
    ];
    for (domain, share) in MIX {
        let n = (n_events * share + r.unit()) as usize;
        if n == 0 {
            continue;
        }
        let leaves = cat.leaves(domain);
        let k = (2 + (n as f64).sqrt() as usize * 2).min(leaves.len());
        let personal: Vec<i64> = (0..k)
            .map(|_| leaves[r.zipf(leaves.len() as u64, 1.05) as usize])
            .collect();
        for _ in 0..n {
            let concept = personal[r.zipf(k as u64, 1.0) as usize];
            let v = &visits[r.below(visits.len() as u64) as usize];
            match domain {
                Domain::Condition => e.condition(concept, v),
                Domain::Drug => {
                    let supply = if r.chance(0.7) { 30 } else { 90 };
                    e.drug(concept, v.date, supply, Some(v.id));
                }
                Domain::Measurement => {
                    let l = lab(cat.seed, concept);
                    if l.qualitative {
                        e.measurement_answer(
                            concept,
                            v,
                            if r.chance(0.2) { POSITIVE } else { NEGATIVE },
                        );
                    } else {
                        let mut x = l.mean + l.sd * r.normal();
                        if r.chance(0.03) {
                            x *= 3.0;
                        }
                        e.measurement_value(concept, v, x.max(0.0));
                    }
                }
                Domain::Procedure => e.procedure(concept, v),
                Domain::Observation => e.observation(concept, v),
                _ => e.device(concept, v),
            }
        }
    }
}

/// Writes rows of one person.
struct Emit<'a> {
    pid: i64,
    end: i32,
    ids: &'a mut Ids,
    out: &'a mut Clinical,
    seed: u64,
}

impl Emit<'_> {
    fn condition(&mut self, concept: i64, v: &Visit) {
        self.out.condition_occurrence.push(&[
            Val::Int(self.ids.next(T_CONDITION)),
            Val::Int(self.pid),
            Val::Int(concept),
            Val::Date(v.date),
            Val::Null,
            Val::Int(TYPE_EHR),
            Val::Int(v.id),
            Val::Null,
        ]);
    }

    fn drug(&mut self, concept: i64, start: i32, supply: i32, visit: Option<i64>) {
        self.out.drug_exposure.push(&[
            Val::Int(self.ids.next(T_DRUG)),
            Val::Int(self.pid),
            Val::Int(concept),
            Val::Date(start),
            Val::Date((start + supply - 1).min(self.end)),
            Val::Int(TYPE_EHR),
            Val::Float(f64::from(supply)),
            Val::Int(i64::from(supply)),
            visit.map_or(Val::Null, Val::Int),
        ]);
    }

    /// A prescription from `start`, refilled every `every` days until the end of observation.
    fn refills(&mut self, concept: i64, start: i32, every: i32, max: usize) {
        let mut day = start;
        for _ in 0..max {
            if day > self.end {
                break;
            }
            self.drug(concept, day, every, None);
            day += every;
        }
    }

    fn measurement_value(&mut self, concept: i64, v: &Visit, value: f64) {
        let l = lab(self.seed, concept);
        self.out.measurement.push(&[
            Val::Int(self.ids.next(T_MEASUREMENT)),
            Val::Int(self.pid),
            Val::Int(concept),
            Val::Date(v.date),
            Val::Int(TYPE_EHR),
            Val::Float(round2(value)),
            Val::Null,
            Val::Int(l.unit),
            Val::Float(round2(l.mean - 2.0 * l.sd)),
            Val::Float(round2(l.mean + 2.0 * l.sd)),
            Val::Int(v.id),
        ]);
    }

    fn measurement_answer(&mut self, concept: i64, v: &Visit, answer: i64) {
        self.out.measurement.push(&[
            Val::Int(self.ids.next(T_MEASUREMENT)),
            Val::Int(self.pid),
            Val::Int(concept),
            Val::Date(v.date),
            Val::Int(TYPE_EHR),
            Val::Null,
            Val::Int(answer),
            Val::Null,
            Val::Null,
            Val::Null,
            Val::Int(v.id),
        ]);
    }

    fn procedure(&mut self, concept: i64, v: &Visit) {
        self.out.procedure_occurrence.push(&[
            Val::Int(self.ids.next(T_PROCEDURE)),
            Val::Int(self.pid),
            Val::Int(concept),
            Val::Date(v.date),
            Val::Int(TYPE_EHR),
            Val::Int(v.id),
        ]);
    }

    fn observation(&mut self, concept: i64, v: &Visit) {
        self.out.observation.push(&[
            Val::Int(self.ids.next(T_OBSERVATION)),
            Val::Int(self.pid),
            Val::Int(concept),
            Val::Date(v.date),
            Val::Int(TYPE_EHR),
            Val::Null,
            Val::Null,
            Val::Null,
            Val::Int(v.id),
            Val::Null,
        ]);
    }

    fn device(&mut self, concept: i64, v: &Visit) {
        self.out.device_exposure.push(&[
            Val::Int(self.ids.next(T_DEVICE)),
            Val::Int(self.pid),
            Val::Int(concept),
            Val::Date(v.date),
            Val::Null,
            Val::Int(TYPE_EHR),
            Val::Int(v.id),
        ]);
    }
}

/// Survey answers: The Basics for everyone at enrolment, Lifestyle and Overall Health for most.
fn surveys(
    p: &Person,
    r: &mut Rng,
    ids: &mut Ids,
    consent: i32,
    end: i32,
    diabetic: bool,
    out: &mut Clinical,
) {
    for (m, survey) in SURVEYS.iter().enumerate() {
        let takes = match m {
            0 => true,
            1 => r.chance(0.8),
            _ => r.chance(0.85),
        };
        if !takes {
            continue;
        }
        let date = (consent + r.below(60) as i32).min(end);
        for (q, question) in survey.questions.iter().enumerate() {
            let prefer_not = question
                .answers
                .iter()
                .position(|a| *a == "Prefer not to answer");
            let a = if let Some(i) = prefer_not.filter(|_| r.chance(0.02)) {
                i
            } else {
                match question.code {
                    "BiologicalSexAtBirth_SexAtBirth" => match p.gender_concept_id {
                        persons::FEMALE => 0,
                        persons::MALE => 1,
                        _ => 2,
                    },
                    "Race_WhatRaceEthnicity" => {
                        if p.ethnicity_concept_id == persons::HISPANIC {
                            2
                        } else {
                            match p.race_concept_id {
                                persons::WHITE => 0,
                                persons::BLACK => 1,
                                persons::ASIAN => 3,
                                _ => 4,
                            }
                        }
                    }
                    "EducationLevel_HighestGrade" => {
                        weighted(r, &[0.01, 0.06, 0.18, 0.29, 0.27, 0.19])
                    }
                    "Income_AnnualIncome" => weighted(r, &[0.31, 0.2, 0.23, 0.12, 0.14]),
                    "Insurance_HealthInsurance" => weighted(r, &[0.91, 0.09]),
                    "Smoking_100CigsLifetime" => weighted(r, &[0.41, 0.59]),
                    "Alcohol_DrinkFrequencyPastYear" => weighted(r, &[0.2, 0.3, 0.2, 0.17, 0.13]),
                    "Exercise_DaysPerWeek" => weighted(r, &[0.2, 0.3, 0.3, 0.2]),
                    "OverallHealth_GeneralHealth" => {
                        let a = weighted(r, &[0.1, 0.3, 0.35, 0.18, 0.07]);
                        if diabetic && r.chance(0.4) {
                            (a + 1).min(4)
                        } else {
                            a
                        }
                    }
                    "OverallHealth_OrganTransplant" => weighted(r, &[0.01, 0.99]),
                    _ => r.below(question.answers.len() as u64) as usize,
                }
            };
            out.observation.push(&[
                Val::Int(ids.next(T_OBSERVATION)),
                Val::Int(p.person_id),
                Val::Int(vocabulary::survey_question_id(m, q)),
                Val::Date(date),
                Val::Int(TYPE_SURVEY),
                Val::Null,
                Val::Text(question.answers[a]),
                Val::Int(vocabulary::survey_answer_id(m, q, a)),
                Val::Null,
                Val::Text(question.code),
            ]);
        }
    }
}
