//! Cohort definitions: what the cohort builder saves and counts, as plain data.
//!
//! The model follows the All of Us cohort builder (its `CohortDefinition`, `SearchGroup`,
//! `TemporalMention`, `TemporalTime`, `Operator` and `AttrName` enums and its UI texts):
//!
//! - a definition is a list of "Include Participants" groups and a list of "Exclude
//!   Participants" groups; **groups are AND'd**, exclude groups are subtracted;
//! - within a group **criteria are OR'd**;
//! - a group may narrow its criteria to the first or last mention, or be a *temporal* group
//!   that relates its criteria to a second list of criteria ("On or within X days of" …);
//! - event criteria (surveys, physical measurements, the EHR domains) take optional modifiers.
//!
//! The JSON format is documented in `docs/cohort-definition.md`. This module is pure: concept
//! existence and domains are checked by the caller against a CDR, using
//! [`referenced_concepts`]; everything that can be checked from the definition alone is in
//! [`validate`].

use std::collections::HashSet;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An OMOP concept id (`concept.concept_id`).
pub type ConceptId = i64;

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

/// At most this many groups, include and exclude together.
pub const MAX_GROUPS: usize = 20;
/// At most this many criteria in one group, its temporal second list included.
pub const MAX_CRITERIA_PER_GROUP: usize = 50;
/// At most this many criteria in a whole definition.
pub const MAX_CRITERIA_TOTAL: usize = 500;
/// At most this many concept ids in one list (races, visit types, categorical values …).
pub const MAX_CONCEPT_IDS_PER_LIST: usize = 1_000;
/// Group and criterion ids: 1 to this many ASCII letters, digits, `-` or `_`.
pub const MAX_ID_LEN: usize = 64;
/// Ages (demographic and at event) go from 0 to this.
pub const MAX_AGE: u32 = 120;
/// The day counts of temporal groups go from 0 to this (about 100 years).
pub const MAX_TEMPORAL_DAYS: i64 = 36_525;
/// [`validate`] stops after this many errors, so a huge bad definition gets a bounded answer.
pub const MAX_REPORTED_ERRORS: usize = 100;

// ---------------------------------------------------------------------------------------------
// UI texts (the reference system's words)
// ---------------------------------------------------------------------------------------------

/// The builder's fixed texts, as the reference system spells them.
pub mod ui {
    pub const ADD_CRITERIA: &str = "Add Criteria";
    pub const INCLUDE_PARTICIPANTS: &str = "Include Participants";
    pub const EXCLUDE_PARTICIPANTS: &str = "Exclude Participants";
    pub const APPLY_MODIFIERS: &str = "Apply optional Modifiers";
    pub const AGE_AT_EVENT: &str = "Age At Event";
    pub const NUMBER_OF_OCCURRENCE_DATES: &str = "Number Of Occurrence Dates";
    pub const N_OR_MORE: &str = "N or More";
    pub const EVENT_DATE: &str = "Event Date";
    pub const DURING_VISIT_TYPE: &str = "During Visit Type";
    pub const SUPPRESS_GROUP: &str = "Suppress group from total count";
    pub const HAS_EHR_DATA: &str = "Has EHR data";
    pub const DECEASED: &str = "Deceased";
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// A cohort definition: participants in every include group and in no exclude group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortDefinition {
    /// "Include Participants" groups, AND'd.
    #[serde(default)]
    pub include: Vec<Group>,
    /// "Exclude Participants" groups: anyone in any of them is removed.
    #[serde(default)]
    pub exclude: Vec<Group>,
}

/// A group of criteria, OR'd together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Unique among the definition's groups (see [`MAX_ID_LEN`]).
    pub id: String,
    pub criteria: Vec<Criterion>,
    /// "Any mention of" (the default), "First mention of", "Last mention of".
    #[serde(default)]
    pub mention: Mention,
    /// When set, the group holds the people whose `criteria` events stand in this relation to
    /// an event of `temporal.second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporal: Option<Temporal>,
    /// "Suppress group from total count": the group is kept, counted on its own and shown, but
    /// left out of the total.
    #[serde(default, skip_serializing_if = "is_false")]
    pub suppressed: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn yes() -> bool {
    true
}

/// Which of a person's matching events count (the reference's `TemporalMention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Mention {
    #[default]
    #[serde(rename = "ANY_MENTION")]
    AnyMention,
    #[serde(rename = "FIRST_MENTION")]
    FirstMention,
    #[serde(rename = "LAST_MENTION")]
    LastMention,
}

impl Mention {
    pub const ALL: [Mention; 3] = [
        Mention::AnyMention,
        Mention::FirstMention,
        Mention::LastMention,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Mention::AnyMention => "Any mention of",
            Mention::FirstMention => "First mention of",
            Mention::LastMention => "Last mention of",
        }
    }
}

/// A temporal group's relation to its second list of criteria.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Temporal {
    pub kind: TemporalKind,
    /// The criteria the group's events are related to (OR'd, like a group's criteria).
    pub second: Vec<Criterion>,
}

/// The reference's `TemporalTime`. Days are whole days between event dates; they are signed in
/// the model only so that [`validate`] can name a negative count instead of a parse error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum TemporalKind {
    /// "During same encounter as": both events in the same visit.
    /// (Written `{}` so that unknown fields are refused, as on [`CriterionKind::Deceased`].)
    #[serde(rename = "DURING_SAME_ENCOUNTER_AS")]
    DuringSameEncounter {},
    /// "X or more days before": the event is at least `days` days before the second one.
    #[serde(rename = "X_DAYS_BEFORE")]
    XOrMoreDaysBefore { days: i64 },
    /// "X or more days after": the event is at least `days` days after the second one.
    #[serde(rename = "X_DAYS_AFTER")]
    XOrMoreDaysAfter { days: i64 },
    /// "On or within X days of": the two events are at most `days` days apart, either way.
    #[serde(rename = "WITHIN_X_DAYS_OF")]
    WithinXDays { days: i64 },
}

impl TemporalKind {
    pub fn label(self) -> &'static str {
        match self {
            TemporalKind::DuringSameEncounter {} => "During same encounter as",
            TemporalKind::XOrMoreDaysBefore { .. } => "X or more days before",
            TemporalKind::XOrMoreDaysAfter { .. } => "X or more days after",
            TemporalKind::WithinXDays { .. } => "On or within X days of",
        }
    }

    pub fn days(self) -> Option<i64> {
        match self {
            TemporalKind::DuringSameEncounter {} => None,
            TemporalKind::XOrMoreDaysBefore { days }
            | TemporalKind::XOrMoreDaysAfter { days }
            | TemporalKind::WithinXDays { days } => Some(days),
        }
    }
}

/// One criterion of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// Unique among all the definition's criteria (per-criterion counts are keyed by it).
    pub id: String,
    pub kind: CriterionKind,
    /// "Apply optional Modifiers"; only event criteria take them.
    #[serde(default, skip_serializing_if = "Modifiers::is_empty")]
    pub modifiers: Modifiers,
}

/// What a criterion selects. The menu's "Program Data" (demographics, surveys, physical
/// measurements) and "Domains" (the EHR domains, Has EHR data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum CriterionKind {
    /// An age range, inclusive at both ends.
    Age { basis: AgeBasis, min: u32, max: u32 },
    /// "Deceased". (Fieldless variants are written `{}` so that serde refuses unknown fields
    /// on them too; on unit variants of tagged enums it ignores them.)
    Deceased {},
    /// Any of these ethnicity concepts.
    Ethnicity { concept_ids: Vec<ConceptId> },
    /// Any of these gender identity concepts.
    GenderIdentity { concept_ids: Vec<ConceptId> },
    /// Any of these race concepts.
    Race { concept_ids: Vec<ConceptId> },
    /// Any of these "Sex Assigned at Birth" concepts.
    SexAtBirth { concept_ids: Vec<ConceptId> },
    /// A survey module, narrowed to one question, narrowed to one answer.
    Survey {
        module_concept_id: ConceptId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        question_concept_id: Option<ConceptId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer_concept_id: Option<ConceptId>,
    },
    /// A physical measurement, optionally with a value filter.
    PhysicalMeasurement {
        concept_id: ConceptId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<ValueFilter>,
    },
    /// A concept of one EHR domain, with its descendants unless told otherwise; measurements
    /// may filter on their value.
    Domain {
        domain: Domain,
        concept_id: ConceptId,
        #[serde(default = "yes")]
        include_descendants: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<ValueFilter>,
    },
    /// "Has EHR data": anyone with at least one EHR record.
    HasEhrData {},
}

impl CriterionKind {
    /// Event criteria have dated events, so they take modifiers, mentions and temporal
    /// relations; demographics and "Has EHR data" describe the person and take none.
    pub fn is_event(&self) -> bool {
        matches!(
            self,
            CriterionKind::Survey { .. }
                | CriterionKind::PhysicalMeasurement { .. }
                | CriterionKind::Domain { .. }
        )
    }

    /// The menu entry the criterion comes from.
    pub fn menu_label(&self) -> &'static str {
        match self {
            CriterionKind::Age { .. } => "Age",
            CriterionKind::Deceased {} => ui::DECEASED,
            CriterionKind::Ethnicity { .. } => "Ethnicity",
            CriterionKind::GenderIdentity { .. } => "Gender Identity",
            CriterionKind::Race { .. } => "Race",
            CriterionKind::SexAtBirth { .. } => "Sex Assigned at Birth",
            CriterionKind::Survey { .. } => "Surveys",
            CriterionKind::PhysicalMeasurement { .. } => "Physical Measurements",
            CriterionKind::Domain { domain, .. } => domain.label(),
            CriterionKind::HasEhrData {} => ui::HAS_EHR_DATA,
        }
    }
}

/// Which age an age criterion reads (the reference's `AttrName` AGE, AGE_AT_CONSENT,
/// AGE_AT_CDR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AgeBasis {
    #[serde(rename = "AGE")]
    Current,
    #[serde(rename = "AGE_AT_CONSENT")]
    AtConsent,
    #[serde(rename = "AGE_AT_CDR")]
    AtCdr,
}

impl AgeBasis {
    pub const ALL: [AgeBasis; 3] = [AgeBasis::Current, AgeBasis::AtConsent, AgeBasis::AtCdr];

    pub fn label(self) -> &'static str {
        match self {
            AgeBasis::Current => "Current Age",
            AgeBasis::AtConsent => "Age at Consent",
            AgeBasis::AtCdr => "Age at CDR Date",
        }
    }
}

/// The EHR domains of the criteria menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Domain {
    Condition,
    Procedure,
    Drug,
    Measurement,
    Visit,
    Observation,
    Device,
}

impl Domain {
    pub const ALL: [Domain; 7] = [
        Domain::Condition,
        Domain::Procedure,
        Domain::Drug,
        Domain::Measurement,
        Domain::Visit,
        Domain::Observation,
        Domain::Device,
    ];

    /// The menu's name for the domain.
    pub fn label(self) -> &'static str {
        match self {
            Domain::Condition => "Conditions",
            Domain::Procedure => "Procedures",
            Domain::Drug => "Drugs",
            Domain::Measurement => "Labs and Measurements",
            Domain::Visit => "Visits",
            Domain::Observation => "Observations",
            Domain::Device => "Devices",
        }
    }

    /// The OMOP `domain_id` of the domain's concepts.
    pub fn omop_id(self) -> &'static str {
        match self {
            Domain::Condition => "Condition",
            Domain::Procedure => "Procedure",
            Domain::Drug => "Drug",
            Domain::Measurement => "Measurement",
            Domain::Visit => "Visit",
            Domain::Observation => "Observation",
            Domain::Device => "Device",
        }
    }
}

/// A filter on a measurement's value: a numeric comparison (the reference's `NUM` attribute
/// with its `Operator`) or a set of categorical value concepts (`CAT` with `IN`). Bounds are
/// inclusive except for the strict comparisons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "operator",
    rename_all = "SCREAMING_SNAKE_CASE",
    deny_unknown_fields
)]
pub enum ValueFilter {
    Equal { value: f64 },
    NotEqual { value: f64 },
    LessThan { value: f64 },
    GreaterThan { value: f64 },
    LessThanOrEqualTo { value: f64 },
    GreaterThanOrEqualTo { value: f64 },
    Between { min: f64, max: f64 },
    In { value_concept_ids: Vec<ConceptId> },
}

/// "Age At Event": an inclusive range; either end may be open, not both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

/// "Event Date": "Is On or Before", "Is On or After", "Is Between" (both ends included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(
    tag = "operator",
    rename_all = "SCREAMING_SNAKE_CASE",
    deny_unknown_fields
)]
pub enum DateFilter {
    OnOrBefore { date: NaiveDate },
    OnOrAfter { date: NaiveDate },
    Between { start: NaiveDate, end: NaiveDate },
}

impl DateFilter {
    pub fn label(self) -> &'static str {
        match self {
            DateFilter::OnOrBefore { .. } => "Is On or Before",
            DateFilter::OnOrAfter { .. } => "Is On or After",
            DateFilter::Between { .. } => "Is Between",
        }
    }
}

/// "Apply optional Modifiers". Every modifier set narrows the criterion's events; they are
/// AND'd.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Modifiers {
    /// "Age At Event".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_at_event: Option<AgeRange>,
    /// "Number Of Occurrence Dates" ("N or More"): the person has events on at least this many
    /// distinct dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrences_at_least: Option<u32>,
    /// "Event Date".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_date: Option<DateFilter>,
    /// "During Visit Type": the event happened during a visit of one of these visit concepts.
    /// Domain criteria only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub during_visit_type: Option<Vec<ConceptId>>,
}

impl Modifiers {
    pub fn is_empty(&self) -> bool {
        self.age_at_event.is_none()
            && self.occurrences_at_least.is_none()
            && self.event_date.is_none()
            && self.during_visit_type.is_none()
    }
}

// ---------------------------------------------------------------------------------------------
// Locations and errors
// ---------------------------------------------------------------------------------------------

/// Include or exclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Section {
    Include,
    Exclude,
}

/// A group's two lists: its own criteria and a temporal group's second list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CriteriaList {
    Criteria,
    TemporalSecond,
}

/// Where in a definition something is. Every part is optional: a definition-wide problem has
/// none, a group's problem has no criterion. `field` is a dotted path inside the criterion (or
/// the group), e.g. `modifiers.age_at_event` or `temporal.kind.days`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<Section>,
    /// Index within the section's groups, from 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_index: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<CriteriaList>,
    /// Index within `list`, from 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criterion_index: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criterion_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Location {
    fn group(section: Section, index: usize, group: &Group) -> Location {
        Location {
            section: Some(section),
            group_index: Some(index),
            group_id: Some(group.id.clone()),
            ..Location::default()
        }
    }

    fn criterion(&self, list: CriteriaList, index: usize, criterion: &Criterion) -> Location {
        Location {
            list: Some(list),
            criterion_index: Some(index),
            criterion_id: Some(criterion.id.clone()),
            field: None,
            ..self.clone()
        }
    }

    /// The same place, at a field (a dotted path) of it.
    pub fn at(&self, field: &str) -> Location {
        Location {
            field: Some(field.to_owned()),
            ..self.clone()
        }
    }
}

/// What is wrong, for programs; the message says it for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// No include group.
    NoIncludeGroup,
    TooManyGroups,
    TooManyCriteriaInGroup,
    TooManyCriteria,
    TooManyConceptIds,
    /// A group (or a temporal second list) without criteria.
    EmptyGroup,
    /// An empty concept id list.
    EmptyList,
    /// An id that is empty, too long or has other characters than letters, digits, `-`, `_`.
    InvalidId,
    DuplicateId,
    /// A concept id that is zero or negative.
    InvalidConceptId,
    /// A range whose minimum is above its maximum (age 60 to 20, value 10 to 5).
    ContradictoryRange,
    /// A range with neither end.
    EmptyRange,
    /// A date range that ends before it starts.
    DateRangeReversed,
    /// An age above [`MAX_AGE`] or a day count above [`MAX_TEMPORAL_DAYS`].
    OutOfRange,
    NegativeDays,
    /// A value that is not a finite number.
    NotANumber,
    /// "Number Of Occurrence Dates" of 0.
    ZeroOccurrences,
    /// A modifier on a criterion that does not take it.
    ModifierNotApplicable,
    /// A value filter on a domain that has no values.
    ValueNotApplicable,
    /// First/last mention or a temporal relation on a group with non-event criteria.
    NotAnEventCriterion,
    /// A survey answer without its question.
    AnswerWithoutQuestion,
    /// The CDR has no such concept (from [`ConceptReference::unknown`]).
    UnknownConcept,
    /// The concept belongs to another domain (from [`ConceptReference::wrong_domain`]).
    WrongDomain,
}

/// One problem, located, with a message meant for the researcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionError {
    pub code: ErrorCode,
    #[serde(flatten)]
    pub location: Location,
    pub message: String,
}

impl fmt::Display for CriterionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.location;
        let mut parts = Vec::new();
        if let (Some(s), Some(i)) = (l.section, l.group_index) {
            let s = match s {
                Section::Include => "include",
                Section::Exclude => "exclude",
            };
            parts.push(format!("{s} group {}", i + 1));
        }
        if let Some(c) = &l.criterion_id {
            parts.push(format!("criterion {c}"));
        }
        if let Some(field) = &l.field {
            parts.push(field.clone());
        }
        if parts.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", parts.join(", "), self.message)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

struct Errors(Vec<CriterionError>);

impl Errors {
    fn add(&mut self, code: ErrorCode, location: Location, message: impl Into<String>) {
        if self.0.len() < MAX_REPORTED_ERRORS {
            self.0.push(CriterionError {
                code,
                location,
                message: message.into(),
            });
        }
    }
}

/// Checks everything that can be checked without a CDR. The errors come in definition order
/// (include groups, then exclude groups; within a group, the group's own problems, then its
/// criteria, then its temporal second list), at most [`MAX_REPORTED_ERRORS`] of them.
pub fn validate(def: &CohortDefinition) -> Result<(), Vec<CriterionError>> {
    let mut errs = Errors(Vec::new());
    let top = Location::default();

    if def.include.is_empty() {
        errs.add(
            ErrorCode::NoIncludeGroup,
            top.clone(),
            format!(
                "Add at least one \"{}\" group: a cohort starts from the people it includes.",
                ui::INCLUDE_PARTICIPANTS
            ),
        );
    }
    let groups = def.include.len().saturating_add(def.exclude.len());
    if groups > MAX_GROUPS {
        errs.add(
            ErrorCode::TooManyGroups,
            top.clone(),
            format!(
                "This definition has {} groups; a cohort may have at most {MAX_GROUPS} include \
                 and exclude groups together.",
                thousands(groups as u64)
            ),
        );
    }
    let total: usize = sections(def)
        .map(|(_, _, g)| group_size(g))
        .fold(0usize, usize::saturating_add);
    if total > MAX_CRITERIA_TOTAL {
        errs.add(
            ErrorCode::TooManyCriteria,
            top,
            format!(
                "This definition has {} criteria; a cohort may have at most {MAX_CRITERIA_TOTAL}.",
                thousands(total as u64)
            ),
        );
    }

    let mut group_ids = HashSet::new();
    let mut criterion_ids = HashSet::new();
    for (section, index, group) in sections(def) {
        if errs.0.len() >= MAX_REPORTED_ERRORS {
            break;
        }
        validate_group(
            section,
            index,
            group,
            &mut group_ids,
            &mut criterion_ids,
            &mut errs,
        );
    }

    if errs.0.is_empty() {
        Ok(())
    } else {
        Err(errs.0)
    }
}

/// Every criterion of the definition with its location, in definition order (each group's
/// criteria, then its temporal second list).
pub fn located_criteria(def: &CohortDefinition) -> Vec<(Location, &Criterion)> {
    let mut out = Vec::new();
    for (section, index, group) in sections(def) {
        let loc = Location::group(section, index, group);
        for (i, c) in group.criteria.iter().enumerate() {
            out.push((loc.criterion(CriteriaList::Criteria, i, c), c));
        }
        if let Some(t) = &group.temporal {
            for (i, c) in t.second.iter().enumerate() {
                out.push((loc.criterion(CriteriaList::TemporalSecond, i, c), c));
            }
        }
    }
    out
}

fn sections(def: &CohortDefinition) -> impl Iterator<Item = (Section, usize, &Group)> {
    let inc = def
        .include
        .iter()
        .enumerate()
        .map(|(i, g)| (Section::Include, i, g));
    let exc = def
        .exclude
        .iter()
        .enumerate()
        .map(|(i, g)| (Section::Exclude, i, g));
    inc.chain(exc)
}

fn group_size(g: &Group) -> usize {
    g.criteria
        .len()
        .saturating_add(g.temporal.as_ref().map_or(0, |t| t.second.len()))
}

fn check_id(id: &str, what: &str, location: Location, errs: &mut Errors) -> bool {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        errs.add(
            ErrorCode::InvalidId,
            location.at("id"),
            format!("A {what} id must be 1 to {MAX_ID_LEN} letters, digits, '-' or '_'."),
        );
    }
    ok
}

fn validate_group(
    section: Section,
    index: usize,
    group: &Group,
    group_ids: &mut HashSet<String>,
    criterion_ids: &mut HashSet<String>,
    errs: &mut Errors,
) {
    let loc = Location::group(section, index, group);
    if check_id(&group.id, "group", loc.clone(), errs) && !group_ids.insert(group.id.clone()) {
        errs.add(
            ErrorCode::DuplicateId,
            loc.at("id"),
            format!(
                "Another group already has the id \"{}\"; each group needs its own.",
                group.id
            ),
        );
    }
    if group.criteria.is_empty() {
        errs.add(
            ErrorCode::EmptyGroup,
            loc.at("criteria"),
            format!(
                "This group has no criteria: use \"{}\" or remove the group.",
                ui::ADD_CRITERIA
            ),
        );
    }
    let size = group_size(group);
    if size > MAX_CRITERIA_PER_GROUP {
        errs.add(
            ErrorCode::TooManyCriteriaInGroup,
            loc.at("criteria"),
            format!(
                "This group has {} criteria; a group may have at most {MAX_CRITERIA_PER_GROUP}.",
                thousands(size as u64)
            ),
        );
    }

    // Mentions and temporal relations read event dates.
    let narrows = group.mention != Mention::AnyMention || group.temporal.is_some();
    if narrows {
        let what = match &group.temporal {
            Some(t) => format!("\"{}\"", t.kind.label()),
            None => format!("\"{}\"", group.mention.label()),
        };
        let lists = std::iter::once((CriteriaList::Criteria, &group.criteria)).chain(
            group
                .temporal
                .as_ref()
                .map(|t| (CriteriaList::TemporalSecond, &t.second)),
        );
        for (list, criteria) in lists {
            for (i, c) in criteria.iter().enumerate() {
                if !c.kind.is_event() {
                    errs.add(
                        ErrorCode::NotAnEventCriterion,
                        loc.criterion(list, i, c).at("kind"),
                        format!(
                            "{} has no event dates, so it cannot be used with {what}; move it \
                             to a group of its own.",
                            c.kind.menu_label()
                        ),
                    );
                }
            }
        }
    }

    if let Some(t) = &group.temporal {
        if let Some(days) = t.kind.days() {
            let field = loc.at("temporal.kind.days");
            if days < 0 {
                errs.add(
                    ErrorCode::NegativeDays,
                    field,
                    format!(
                        "\"{}\" needs a number of days of 0 or more, not {days}.",
                        t.kind.label()
                    ),
                );
            } else if days > MAX_TEMPORAL_DAYS {
                errs.add(
                    ErrorCode::OutOfRange,
                    field,
                    format!(
                        "\"{}\" takes at most {} days.",
                        t.kind.label(),
                        thousands(MAX_TEMPORAL_DAYS as u64)
                    ),
                );
            }
        }
        if t.second.is_empty() {
            errs.add(
                ErrorCode::EmptyGroup,
                loc.at("temporal.second"),
                format!(
                    "\"{}\" needs at least one criterion to relate this group's events to.",
                    t.kind.label()
                ),
            );
        }
    }

    let lists = std::iter::once((CriteriaList::Criteria, &group.criteria)).chain(
        group
            .temporal
            .as_ref()
            .map(|t| (CriteriaList::TemporalSecond, &t.second)),
    );
    for (list, criteria) in lists {
        for (i, c) in criteria.iter().enumerate() {
            if errs.0.len() >= MAX_REPORTED_ERRORS {
                return;
            }
            let cloc = loc.criterion(list, i, c);
            if check_id(&c.id, "criterion", cloc.clone(), errs)
                && !criterion_ids.insert(c.id.clone())
            {
                errs.add(
                    ErrorCode::DuplicateId,
                    cloc.at("id"),
                    format!(
                        "Another criterion already has the id \"{}\"; each criterion needs its own.",
                        c.id
                    ),
                );
            }
            validate_criterion(c, &cloc, errs);
        }
    }
}

fn check_concept(id: ConceptId, location: Location, errs: &mut Errors) {
    if id <= 0 {
        errs.add(
            ErrorCode::InvalidConceptId,
            location,
            format!("{id} is not a concept id: concept ids are positive whole numbers."),
        );
    }
}

fn check_concept_list(ids: &[ConceptId], what: &str, location: Location, errs: &mut Errors) {
    if ids.is_empty() {
        errs.add(
            ErrorCode::EmptyList,
            location.clone(),
            format!("Choose at least one {what}."),
        );
    }
    if ids.len() > MAX_CONCEPT_IDS_PER_LIST {
        errs.add(
            ErrorCode::TooManyConceptIds,
            location.clone(),
            format!(
                "{} {what}s are chosen here; a list may hold at most {}.",
                thousands(ids.len() as u64),
                thousands(MAX_CONCEPT_IDS_PER_LIST as u64)
            ),
        );
    }
    // One message for a list, however many bad ids it holds.
    if let Some(bad) = ids.iter().find(|&&id| id <= 0) {
        check_concept(*bad, location, errs);
    }
}

fn check_age(age: u32, location: &Location, errs: &mut Errors) {
    if age > MAX_AGE {
        errs.add(
            ErrorCode::OutOfRange,
            location.clone(),
            format!("Ages go from 0 to {MAX_AGE}; {age} is out of range."),
        );
    }
}

fn check_number(value: f64, location: Location, errs: &mut Errors) -> bool {
    let ok = value.is_finite();
    if !ok {
        errs.add(ErrorCode::NotANumber, location, "Enter a number.");
    }
    ok
}

fn validate_value(filter: &ValueFilter, location: Location, errs: &mut Errors) {
    match filter {
        ValueFilter::Equal { value }
        | ValueFilter::NotEqual { value }
        | ValueFilter::LessThan { value }
        | ValueFilter::GreaterThan { value }
        | ValueFilter::LessThanOrEqualTo { value }
        | ValueFilter::GreaterThanOrEqualTo { value } => {
            check_number(*value, location.at_sub("value"), errs);
        }
        ValueFilter::Between { min, max } => {
            let a = check_number(*min, location.at_sub("min"), errs);
            let b = check_number(*max, location.at_sub("max"), errs);
            if a && b && min > max {
                errs.add(
                    ErrorCode::ContradictoryRange,
                    location,
                    format!(
                        "The value range {min} to {max} is empty: the minimum is above the \
                         maximum."
                    ),
                );
            }
        }
        ValueFilter::In { value_concept_ids } => {
            check_concept_list(
                value_concept_ids,
                "value",
                location.at_sub("value_concept_ids"),
                errs,
            );
        }
    }
}

impl Location {
    /// `field.sub`, or `sub` when there is no field yet.
    fn at_sub(&self, sub: &str) -> Location {
        match &self.field {
            Some(f) => self.at(&format!("{f}.{sub}")),
            None => self.at(sub),
        }
    }
}

fn validate_criterion(c: &Criterion, loc: &Location, errs: &mut Errors) {
    match &c.kind {
        CriterionKind::Age { basis: _, min, max } => {
            check_age(*min, &loc.at("kind.min"), errs);
            check_age(*max, &loc.at("kind.max"), errs);
            if min > max {
                errs.add(
                    ErrorCode::ContradictoryRange,
                    loc.at("kind"),
                    format!(
                        "The age range {min} to {max} is empty: the minimum is above the maximum."
                    ),
                );
            }
        }
        CriterionKind::Deceased {} | CriterionKind::HasEhrData {} => {}
        CriterionKind::Ethnicity { concept_ids } => {
            check_concept_list(concept_ids, "ethnicity", loc.at("kind.concept_ids"), errs)
        }
        CriterionKind::GenderIdentity { concept_ids } => check_concept_list(
            concept_ids,
            "gender identity",
            loc.at("kind.concept_ids"),
            errs,
        ),
        CriterionKind::Race { concept_ids } => {
            check_concept_list(concept_ids, "race", loc.at("kind.concept_ids"), errs)
        }
        CriterionKind::SexAtBirth { concept_ids } => check_concept_list(
            concept_ids,
            "sex assigned at birth",
            loc.at("kind.concept_ids"),
            errs,
        ),
        CriterionKind::Survey {
            module_concept_id,
            question_concept_id,
            answer_concept_id,
        } => {
            check_concept(*module_concept_id, loc.at("kind.module_concept_id"), errs);
            if let Some(q) = question_concept_id {
                check_concept(*q, loc.at("kind.question_concept_id"), errs);
            }
            if let Some(a) = answer_concept_id {
                check_concept(*a, loc.at("kind.answer_concept_id"), errs);
                if question_concept_id.is_none() {
                    errs.add(
                        ErrorCode::AnswerWithoutQuestion,
                        loc.at("kind.question_concept_id"),
                        "Choose the question this answer belongs to.",
                    );
                }
            }
        }
        CriterionKind::PhysicalMeasurement { concept_id, value } => {
            check_concept(*concept_id, loc.at("kind.concept_id"), errs);
            if let Some(v) = value {
                validate_value(v, loc.at("kind.value"), errs);
            }
        }
        CriterionKind::Domain {
            domain,
            concept_id,
            include_descendants: _,
            value,
        } => {
            check_concept(*concept_id, loc.at("kind.concept_id"), errs);
            if let Some(v) = value {
                if *domain == Domain::Measurement {
                    validate_value(v, loc.at("kind.value"), errs);
                } else {
                    errs.add(
                        ErrorCode::ValueNotApplicable,
                        loc.at("kind.value"),
                        format!(
                            "Only {} can be filtered on their value, not {}.",
                            Domain::Measurement.label(),
                            domain.label()
                        ),
                    );
                }
            }
        }
    }
    validate_modifiers(c, loc, errs);
}

fn validate_modifiers(c: &Criterion, loc: &Location, errs: &mut Errors) {
    let m = &c.modifiers;
    if m.is_empty() {
        return;
    }
    if !c.kind.is_event() {
        errs.add(
            ErrorCode::ModifierNotApplicable,
            loc.at("modifiers"),
            format!(
                "{} has no events to modify: remove its modifiers.",
                c.kind.menu_label()
            ),
        );
        return;
    }
    if let Some(r) = m.age_at_event {
        let field = loc.at("modifiers.age_at_event");
        match (r.min, r.max) {
            (None, None) => errs.add(
                ErrorCode::EmptyRange,
                field,
                format!(
                    "\"{}\" needs a minimum age, a maximum age or both.",
                    ui::AGE_AT_EVENT
                ),
            ),
            (min, max) => {
                if let Some(a) = min {
                    check_age(a, &field.at_sub("min"), errs);
                }
                if let Some(b) = max {
                    check_age(b, &field.at_sub("max"), errs);
                }
                if let (Some(a), Some(b)) = (min, max)
                    && a > b
                {
                    errs.add(
                        ErrorCode::ContradictoryRange,
                        field,
                        format!(
                            "The \"{}\" range {a} to {b} is empty: the minimum is above the \
                             maximum.",
                            ui::AGE_AT_EVENT
                        ),
                    );
                }
            }
        }
    }
    if m.occurrences_at_least == Some(0) {
        errs.add(
            ErrorCode::ZeroOccurrences,
            loc.at("modifiers.occurrences_at_least"),
            format!("\"{}\" must be 1 or more.", ui::NUMBER_OF_OCCURRENCE_DATES),
        );
    }
    if let Some(DateFilter::Between { start, end }) = m.event_date
        && end < start
    {
        errs.add(
            ErrorCode::DateRangeReversed,
            loc.at("modifiers.event_date"),
            format!(
                "The \"{}\" range ends ({end}) before it starts ({start}).",
                ui::EVENT_DATE
            ),
        );
    }
    if let Some(visits) = &m.during_visit_type {
        let field = loc.at("modifiers.during_visit_type");
        if matches!(c.kind, CriterionKind::Domain { .. }) {
            check_concept_list(visits, "visit type", field, errs);
        } else {
            errs.add(
                ErrorCode::ModifierNotApplicable,
                field,
                format!(
                    "\"{}\" applies only to EHR domain criteria, not to {}.",
                    ui::DURING_VISIT_TYPE,
                    c.kind.menu_label()
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Concepts a definition references
// ---------------------------------------------------------------------------------------------

/// What kind of concept a reference expects; the caller maps these to the CDR's domains
/// (e.g. `Gender` to OMOP `Gender`, the survey ones to the survey vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExpectedDomain {
    /// A concept of an EHR domain criterion, or a visit type.
    Ehr(Domain),
    Ethnicity,
    /// Gender identity.
    Gender,
    Race,
    SexAtBirth,
    SurveyModule,
    SurveyQuestion,
    SurveyAnswer,
    PhysicalMeasurement,
    /// A categorical measurement value (OMOP `Meas Value`).
    MeasurementValue,
}

impl ExpectedDomain {
    pub fn label(self) -> &'static str {
        match self {
            ExpectedDomain::Ehr(d) => d.label(),
            ExpectedDomain::Ethnicity => "Ethnicity",
            ExpectedDomain::Gender => "Gender Identity",
            ExpectedDomain::Race => "Race",
            ExpectedDomain::SexAtBirth => "Sex Assigned at Birth",
            ExpectedDomain::SurveyModule => "survey modules",
            ExpectedDomain::SurveyQuestion => "survey questions",
            ExpectedDomain::SurveyAnswer => "survey answers",
            ExpectedDomain::PhysicalMeasurement => "Physical Measurements",
            ExpectedDomain::MeasurementValue => "measurement values",
        }
    }
}

/// One concept id used by a definition, where, and what it should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConceptReference {
    pub concept_id: ConceptId,
    pub expected: ExpectedDomain,
    pub location: Location,
}

impl ConceptReference {
    /// The error for a concept the CDR does not have.
    pub fn unknown(&self) -> CriterionError {
        CriterionError {
            code: ErrorCode::UnknownConcept,
            location: self.location.clone(),
            message: format!(
                "Concept {} is not in this dataset's vocabulary.",
                self.concept_id
            ),
        }
    }

    /// The error for a concept of another domain; `actual` is the CDR's name for its domain.
    pub fn wrong_domain(&self, actual: &str) -> CriterionError {
        CriterionError {
            code: ErrorCode::WrongDomain,
            location: self.location.clone(),
            message: format!(
                "Concept {} belongs to {actual}, not to {}.",
                self.concept_id,
                self.expected.label()
            ),
        }
    }
}

/// Every concept id the definition references, in definition order (duplicates kept, each at
/// its own location), with the domain it is expected to be in.
pub fn referenced_concepts(def: &CohortDefinition) -> Vec<ConceptReference> {
    let mut out = Vec::new();
    for (section, index, group) in sections(def) {
        let loc = Location::group(section, index, group);
        let lists = std::iter::once((CriteriaList::Criteria, &group.criteria)).chain(
            group
                .temporal
                .as_ref()
                .map(|t| (CriteriaList::TemporalSecond, &t.second)),
        );
        for (list, criteria) in lists {
            for (i, c) in criteria.iter().enumerate() {
                criterion_concepts(c, &loc.criterion(list, i, c), &mut out);
            }
        }
    }
    out
}

fn criterion_concepts(c: &Criterion, loc: &Location, out: &mut Vec<ConceptReference>) {
    let mut push = |id: ConceptId, expected: ExpectedDomain, field: &str| {
        out.push(ConceptReference {
            concept_id: id,
            expected,
            location: loc.at(field),
        })
    };
    fn value(v: &Option<ValueFilter>, push: &mut dyn FnMut(ConceptId, ExpectedDomain, &str)) {
        if let Some(ValueFilter::In { value_concept_ids }) = v {
            for &id in value_concept_ids {
                push(
                    id,
                    ExpectedDomain::MeasurementValue,
                    "kind.value.value_concept_ids",
                );
            }
        }
    }
    match &c.kind {
        CriterionKind::Age { .. } | CriterionKind::Deceased {} | CriterionKind::HasEhrData {} => {}
        CriterionKind::Ethnicity { concept_ids } => concept_ids
            .iter()
            .for_each(|&id| push(id, ExpectedDomain::Ethnicity, "kind.concept_ids")),
        CriterionKind::GenderIdentity { concept_ids } => concept_ids
            .iter()
            .for_each(|&id| push(id, ExpectedDomain::Gender, "kind.concept_ids")),
        CriterionKind::Race { concept_ids } => concept_ids
            .iter()
            .for_each(|&id| push(id, ExpectedDomain::Race, "kind.concept_ids")),
        CriterionKind::SexAtBirth { concept_ids } => concept_ids
            .iter()
            .for_each(|&id| push(id, ExpectedDomain::SexAtBirth, "kind.concept_ids")),
        CriterionKind::Survey {
            module_concept_id,
            question_concept_id,
            answer_concept_id,
        } => {
            push(
                *module_concept_id,
                ExpectedDomain::SurveyModule,
                "kind.module_concept_id",
            );
            if let Some(q) = question_concept_id {
                push(
                    *q,
                    ExpectedDomain::SurveyQuestion,
                    "kind.question_concept_id",
                );
            }
            if let Some(a) = answer_concept_id {
                push(*a, ExpectedDomain::SurveyAnswer, "kind.answer_concept_id");
            }
        }
        CriterionKind::PhysicalMeasurement {
            concept_id,
            value: v,
        } => {
            push(
                *concept_id,
                ExpectedDomain::PhysicalMeasurement,
                "kind.concept_id",
            );
            value(v, &mut push);
        }
        CriterionKind::Domain {
            domain,
            concept_id,
            value: v,
            ..
        } => {
            push(*concept_id, ExpectedDomain::Ehr(*domain), "kind.concept_id");
            value(v, &mut push);
        }
    }
    if let Some(visits) = &c.modifiers.during_visit_type {
        for &id in visits {
            push(
                id,
                ExpectedDomain::Ehr(Domain::Visit),
                "modifiers.during_visit_type",
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hash
// ---------------------------------------------------------------------------------------------

/// The prefix of the hashed text; raising its version changes every hash.
const HASH_DOMAIN: &str = "wb-cohort-definition-v1\n";

/// The definition in canonical form: every concept id list (demographic lists, categorical
/// values, visit types) sorted and deduplicated, since they are sets. Groups and criteria keep
/// their order: counts are reported group by group and criterion by criterion in that order.
pub fn canonical(def: &CohortDefinition) -> CohortDefinition {
    fn set(ids: &mut Vec<ConceptId>) {
        ids.sort_unstable();
        ids.dedup();
    }
    fn criterion(c: &mut Criterion) {
        match &mut c.kind {
            CriterionKind::Ethnicity { concept_ids }
            | CriterionKind::GenderIdentity { concept_ids }
            | CriterionKind::Race { concept_ids }
            | CriterionKind::SexAtBirth { concept_ids } => set(concept_ids),
            CriterionKind::PhysicalMeasurement {
                value: Some(ValueFilter::In { value_concept_ids }),
                ..
            }
            | CriterionKind::Domain {
                value: Some(ValueFilter::In { value_concept_ids }),
                ..
            } => set(value_concept_ids),
            _ => {}
        }
        if let Some(v) = &mut c.modifiers.during_visit_type {
            set(v);
        }
    }
    let mut def = def.clone();
    for g in def.include.iter_mut().chain(def.exclude.iter_mut()) {
        g.criteria.iter_mut().for_each(criterion);
        if let Some(t) = &mut g.temporal {
            t.second.iter_mut().for_each(criterion);
        }
    }
    def
}

/// A stable hash of the definition: the lowercase hex SHA-256 of a version prefix and the
/// compact JSON of [`canonical`]`(def)`. Equal meaning gives equal hashes across processes and
/// releases of the same format version; reordering groups or criteria, or changing an id, gives
/// a new hash (per-group and per-criterion counts depend on them), reordering or repeating ids
/// inside a concept id list does not.
pub fn definition_hash(def: &CohortDefinition) -> String {
    let json = serde_json::to_vec(&canonical(def))
        .expect("a cohort definition has string keys only, so it always serializes");
    let mut h = Sha256::new();
    h.update(HASH_DOMAIN.as_bytes());
    h.update(&json);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Saved cohorts: name and description
// ---------------------------------------------------------------------------------------------

/// A cohort's name: 1 to this many characters.
pub const MAX_NAME_CHARS: usize = 80;
/// A cohort's description: at most this many characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1_000;

/// The name as saved (trimmed), or what is wrong with it.
pub fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("Give the cohort a name.".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "A cohort name has at most {MAX_NAME_CHARS} characters; this one has {}.",
            name.chars().count()
        ));
    }
    crate::text::check(name, crate::text::Kind::Line).map_err(str::to_owned)?;
    Ok(name.to_owned())
}

/// The description as saved (trimmed), or what is wrong with it.
pub fn check_description(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(format!(
            "A description has at most {MAX_DESCRIPTION_CHARS} characters; this one has {}.",
            text.chars().count()
        ));
    }
    crate::text::check(text, crate::text::Kind::Paragraphs).map_err(str::to_owned)?;
    Ok(text.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Dissemination rule
// ---------------------------------------------------------------------------------------------

/// Participant counts from 1 to this are never shown: "≤ 20" instead.
pub const SUPPRESSION_THRESHOLD: u64 = 20;

/// A participant count as it may be shown, exported or sent by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisplayedCount {
    /// 1 to [`SUPPRESSION_THRESHOLD`]: shown as "≤ 20".
    Suppressed,
    /// 0 or more than the threshold.
    Exact(u64),
}

impl DisplayedCount {
    pub fn is_suppressed(self) -> bool {
        self == DisplayedCount::Suppressed
    }

    /// The number, when it may be shown.
    pub fn exact(self) -> Option<u64> {
        match self {
            DisplayedCount::Suppressed => None,
            DisplayedCount::Exact(n) => Some(n),
        }
    }
}

/// The dissemination rule: 1..=20 becomes [`DisplayedCount::Suppressed`].
pub fn displayed_count(n: u64) -> DisplayedCount {
    if (1..=SUPPRESSION_THRESHOLD).contains(&n) {
        DisplayedCount::Suppressed
    } else {
        DisplayedCount::Exact(n)
    }
}

impl fmt::Display for DisplayedCount {
    /// "≤ 20", or the number with comma thousands separators ("1,234,567").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisplayedCount::Suppressed => write!(f, "≤ {SUPPRESSION_THRESHOLD}"),
            DisplayedCount::Exact(n) => f.write_str(&thousands(*n)),
        }
    }
}

/// `1234567` → `"1,234,567"`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_descriptions_are_checked() {
        assert_eq!(check_name("  T2D adults ").unwrap(), "T2D adults");
        assert!(check_name("   ").is_err());
        assert!(check_name(&"x".repeat(81)).unwrap_err().contains("81"));
        assert!(check_name("a\u{202e}b").is_err());
        assert!(check_description(&"y".repeat(1001)).is_err());
        assert_eq!(check_description(" two\nlines ").unwrap(), "two\nlines");
    }

    const DOC: &str = include_str!("../../../docs/cohort-definition.md");

    /// The `n`th ```json block of docs/cohort-definition.md.
    fn doc_json(n: usize) -> &'static str {
        let block = DOC.split("```json\n").nth(n + 1).expect("doc block");
        &block[..block.find("```").expect("block end")]
    }

    fn example() -> CohortDefinition {
        serde_json::from_str(doc_json(0)).expect("the documented example parses")
    }

    fn domain(id: &str, domain: Domain, concept_id: ConceptId) -> Criterion {
        Criterion {
            id: id.into(),
            kind: CriterionKind::Domain {
                domain,
                concept_id,
                include_descendants: true,
                value: None,
            },
            modifiers: Modifiers::default(),
        }
    }

    fn criterion(id: &str, kind: CriterionKind) -> Criterion {
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

    fn one(c: Criterion) -> CohortDefinition {
        CohortDefinition {
            include: vec![group("g1", vec![c])],
            exclude: vec![],
        }
    }

    fn errors(def: &CohortDefinition) -> Vec<CriterionError> {
        validate(def).expect_err("the definition should be refused")
    }

    /// The only error of `def`.
    fn only(def: &CohortDefinition) -> CriterionError {
        let e = errors(def);
        assert_eq!(e.len(), 1, "{e:#?}");
        e.into_iter().next().unwrap()
    }

    fn with_modifiers(mut c: Criterion, m: Modifiers) -> Criterion {
        c.modifiers = m;
        c
    }

    fn t2d() -> Criterion {
        domain("c1", Domain::Condition, 201826)
    }

    #[test]
    fn the_documented_example_is_valid_and_round_trips() {
        let def = example();
        assert_eq!(validate(&def), Ok(()));
        assert_eq!(def.include.len(), 3);
        assert_eq!(def.exclude[0].criteria[0].id, "c-insulin");
        let t = def.include[2].temporal.as_ref().unwrap();
        assert_eq!(t.kind, TemporalKind::WithinXDays { days: 90 });
        assert_eq!(t.kind.label(), "On or within X days of");
        let json = serde_json::to_string(&def).unwrap();
        let back: CohortDefinition = serde_json::from_str(&json).unwrap();
        assert_eq!(back, def);
        assert_eq!(definition_hash(&back), definition_hash(&def));
    }

    #[test]
    fn the_hash_of_the_documented_example_is_stable() {
        // Changing this value invalidates every saved count: only do it with a new HASH_DOMAIN.
        assert_eq!(
            definition_hash(&example()),
            "d3462caa8527af923bb7cd1145bd7654dee898148747d009ec2b5d5f4195e66d"
        );
    }

    #[test]
    fn the_documented_modifiers_example_parses_and_is_valid() {
        let c: Criterion = serde_json::from_str(doc_json(1)).unwrap();
        assert!(matches!(
            c.kind,
            CriterionKind::Domain {
                include_descendants: true,
                ..
            }
        ));
        assert_eq!(c.modifiers.occurrences_at_least, Some(2));
        assert_eq!(c.modifiers.during_visit_type, Some(vec![9202]));
        assert_eq!(validate(&one(c)), Ok(()));
    }

    #[test]
    fn the_documented_error_is_what_validate_gives() {
        let mut def = example();
        def.include[1].criteria[0].kind = CriterionKind::Age {
            basis: AgeBasis::Current,
            min: 60,
            max: 20,
        };
        let e = only(&def);
        let documented: serde_json::Value = serde_json::from_str(doc_json(2)).unwrap();
        assert_eq!(serde_json::to_value(&e).unwrap(), documented);
        let parsed: CriterionError = serde_json::from_value(documented).unwrap();
        assert_eq!(parsed, e);
        assert_eq!(
            e.to_string(),
            "include group 2, criterion c-age, kind: The age range 60 to 20 is empty: the \
             minimum is above the maximum."
        );
    }

    #[test]
    fn defaults_and_unknown_fields() {
        let g: Group = serde_json::from_str(
            r#"{"id":"g","criteria":[{"id":"c","kind":{"type":"DOMAIN","domain":"DRUG","concept_id":5}}]}"#,
        )
        .unwrap();
        assert_eq!(g.mention, Mention::AnyMention);
        assert!(!g.suppressed && g.temporal.is_none());
        assert!(matches!(
            g.criteria[0].kind,
            CriterionKind::Domain {
                include_descendants: true,
                value: None,
                ..
            }
        ));
        assert!(g.criteria[0].modifiers.is_empty());
        // Unknown fields are refused at every level, tagged enums included.
        for bad in [
            r#"{"id":"g","criteria":[],"colour":1}"#,
            r#"{"id":"g","criteria":[{"id":"c","kind":{"type":"DECEASED","x":1}}]}"#,
            r#"{"id":"g","criteria":[{"id":"c","kind":{"type":"DOMAIN","domain":"DRUG","concept_id":5,"descendants":false}}]}"#,
            r#"{"id":"g","criteria":[{"id":"c","kind":{"type":"HAS_EHR_DATA"},"modifiers":{"age":{}}}]}"#,
            r#"{"id":"g","criteria":[],"temporal":{"kind":{"type":"WITHIN_X_DAYS_OF","days":1,"d":2},"second":[]}}"#,
            r#"{"id":"g","criteria":[],"temporal":{"kind":{"type":"DURING_SAME_ENCOUNTER_AS","days":1},"second":[]}}"#,
            // Ages are whole and non-negative.
            r#"{"id":"g","criteria":[{"id":"c","kind":{"type":"AGE","basis":"AGE","min":-1,"max":3}}]}"#,
        ] {
            assert!(serde_json::from_str::<Group>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ui_texts() {
        let labels: Vec<_> = Mention::ALL.iter().map(|m| m.label()).collect();
        assert_eq!(
            labels,
            ["Any mention of", "First mention of", "Last mention of"]
        );
        assert_eq!(
            TemporalKind::DuringSameEncounter {}.label(),
            "During same encounter as"
        );
        assert_eq!(
            TemporalKind::XOrMoreDaysBefore { days: 1 }.label(),
            "X or more days before"
        );
        assert_eq!(
            TemporalKind::XOrMoreDaysAfter { days: 1 }.label(),
            "X or more days after"
        );
        assert_eq!(ui::SUPPRESS_GROUP, "Suppress group from total count");
        assert_eq!(ui::APPLY_MODIFIERS, "Apply optional Modifiers");
        assert_eq!(AgeBasis::AtCdr.label(), "Age at CDR Date");
        assert_eq!(Domain::Measurement.label(), "Labs and Measurements");
        assert_eq!(
            serde_json::to_string(&AgeBasis::AtConsent).unwrap(),
            "\"AGE_AT_CONSENT\""
        );
    }

    #[test]
    fn contradictory_age_range() {
        let def = one(criterion(
            "c-age",
            CriterionKind::Age {
                basis: AgeBasis::AtConsent,
                min: 60,
                max: 20,
            },
        ));
        let e = only(&def);
        assert_eq!(e.code, ErrorCode::ContradictoryRange);
        assert_eq!(e.location.section, Some(Section::Include));
        assert_eq!(e.location.group_index, Some(0));
        assert_eq!(e.location.group_id.as_deref(), Some("g1"));
        assert_eq!(e.location.list, Some(CriteriaList::Criteria));
        assert_eq!(e.location.criterion_index, Some(0));
        assert_eq!(e.location.criterion_id.as_deref(), Some("c-age"));
        assert!(e.message.contains("60 to 20"), "{}", e.message);
        // Equal ends are a one-year range.
        let ok = one(criterion(
            "c",
            CriterionKind::Age {
                basis: AgeBasis::Current,
                min: 40,
                max: 40,
            },
        ));
        assert_eq!(validate(&ok), Ok(()));
    }

    #[test]
    fn ages_over_the_maximum() {
        let e = only(&one(criterion(
            "c",
            CriterionKind::Age {
                basis: AgeBasis::Current,
                min: 18,
                max: 500,
            },
        )));
        assert_eq!(e.code, ErrorCode::OutOfRange);
        assert_eq!(e.location.field.as_deref(), Some("kind.max"));
    }

    fn measurement(value: ValueFilter) -> Criterion {
        Criterion {
            id: "c-lab".into(),
            kind: CriterionKind::Domain {
                domain: Domain::Measurement,
                concept_id: 3004410,
                include_descendants: true,
                value: Some(value),
            },
            modifiers: Modifiers::default(),
        }
    }

    #[test]
    fn contradictory_value_range() {
        let e = only(&one(measurement(ValueFilter::Between {
            min: 10.0,
            max: 5.5,
        })));
        assert_eq!(e.code, ErrorCode::ContradictoryRange);
        assert_eq!(e.location.field.as_deref(), Some("kind.value"));
        assert!(e.message.contains("10 to 5.5"), "{}", e.message);
        let ok = one(measurement(ValueFilter::Between { min: 5.5, max: 5.5 }));
        assert_eq!(validate(&ok), Ok(()));
    }

    #[test]
    fn values_must_be_numbers() {
        let e = only(&one(measurement(ValueFilter::GreaterThan {
            value: f64::NAN,
        })));
        assert_eq!(e.code, ErrorCode::NotANumber);
        assert_eq!(e.location.field.as_deref(), Some("kind.value.value"));
        let e = errors(&one(measurement(ValueFilter::Between {
            min: f64::NEG_INFINITY,
            max: f64::NAN,
        })));
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].location.field.as_deref(), Some("kind.value.min"));
        assert_eq!(e[1].location.field.as_deref(), Some("kind.value.max"));
    }

    #[test]
    fn values_only_on_measurements() {
        let mut c = measurement(ValueFilter::Equal { value: 1.0 });
        if let CriterionKind::Domain { domain, .. } = &mut c.kind {
            *domain = Domain::Condition;
        }
        let e = only(&one(c));
        assert_eq!(e.code, ErrorCode::ValueNotApplicable);
        // Physical measurements take values.
        let pm = criterion(
            "pm",
            CriterionKind::PhysicalMeasurement {
                concept_id: 903133,
                value: Some(ValueFilter::LessThan { value: 150.0 }),
            },
        );
        assert_eq!(validate(&one(pm)), Ok(()));
    }

    #[test]
    fn categorical_values() {
        let e = only(&one(measurement(ValueFilter::In {
            value_concept_ids: vec![],
        })));
        assert_eq!(e.code, ErrorCode::EmptyList);
        assert_eq!(
            e.location.field.as_deref(),
            Some("kind.value.value_concept_ids")
        );
        let ok = one(measurement(ValueFilter::In {
            value_concept_ids: vec![45884084, 45878583],
        }));
        assert_eq!(validate(&ok), Ok(()));
    }

    #[test]
    fn age_at_event_ranges() {
        let m = |min, max| Modifiers {
            age_at_event: Some(AgeRange { min, max }),
            ..Modifiers::default()
        };
        let e = only(&one(with_modifiers(t2d(), m(Some(60), Some(20)))));
        assert_eq!(e.code, ErrorCode::ContradictoryRange);
        assert_eq!(e.location.field.as_deref(), Some("modifiers.age_at_event"));
        assert!(e.message.contains("Age At Event"));
        let e = only(&one(with_modifiers(t2d(), m(None, None))));
        assert_eq!(e.code, ErrorCode::EmptyRange);
        let e = only(&one(with_modifiers(t2d(), m(Some(130), None))));
        assert_eq!(e.code, ErrorCode::OutOfRange);
        assert_eq!(
            e.location.field.as_deref(),
            Some("modifiers.age_at_event.min")
        );
        for (min, max) in [(Some(18), None), (None, Some(65)), (Some(18), Some(18))] {
            assert_eq!(validate(&one(with_modifiers(t2d(), m(min, max)))), Ok(()));
        }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_date_range_that_ends_before_it_starts() {
        let m = |start, end| Modifiers {
            event_date: Some(DateFilter::Between { start, end }),
            ..Modifiers::default()
        };
        let e = only(&one(with_modifiers(
            t2d(),
            m(date(2020, 5, 1), date(2019, 12, 31)),
        )));
        assert_eq!(e.code, ErrorCode::DateRangeReversed);
        assert_eq!(e.location.field.as_deref(), Some("modifiers.event_date"));
        assert!(e.message.contains("2019-12-31") && e.message.contains("2020-05-01"));
        let ok = one(with_modifiers(t2d(), m(date(2020, 5, 1), date(2020, 5, 1))));
        assert_eq!(validate(&ok), Ok(()));
    }

    #[test]
    fn zero_occurrences() {
        let m = |n| Modifiers {
            occurrences_at_least: Some(n),
            ..Modifiers::default()
        };
        let e = only(&one(with_modifiers(t2d(), m(0))));
        assert_eq!(e.code, ErrorCode::ZeroOccurrences);
        assert!(e.message.contains("Number Of Occurrence Dates"));
        assert_eq!(validate(&one(with_modifiers(t2d(), m(1)))), Ok(()));
    }

    #[test]
    fn modifiers_only_on_event_criteria() {
        let m = Modifiers {
            occurrences_at_least: Some(2),
            ..Modifiers::default()
        };
        let e = only(&one(with_modifiers(
            criterion("c", CriterionKind::Deceased {}),
            m,
        )));
        assert_eq!(e.code, ErrorCode::ModifierNotApplicable);
        assert_eq!(e.location.field.as_deref(), Some("modifiers"));

        let visits = Modifiers {
            during_visit_type: Some(vec![9202]),
            ..Modifiers::default()
        };
        let survey = criterion(
            "s",
            CriterionKind::Survey {
                module_concept_id: 1585855,
                question_concept_id: None,
                answer_concept_id: None,
            },
        );
        let e = only(&one(with_modifiers(survey, visits.clone())));
        assert_eq!(e.code, ErrorCode::ModifierNotApplicable);
        assert_eq!(
            e.location.field.as_deref(),
            Some("modifiers.during_visit_type")
        );
        let e = only(&one(with_modifiers(
            t2d(),
            Modifiers {
                during_visit_type: Some(vec![]),
                ..Modifiers::default()
            },
        )));
        assert_eq!(e.code, ErrorCode::EmptyList);
        assert_eq!(validate(&one(with_modifiers(t2d(), visits))), Ok(()));
    }

    #[test]
    fn an_empty_group() {
        let mut def = example();
        def.exclude[0].criteria.clear();
        let e = only(&def);
        assert_eq!(e.code, ErrorCode::EmptyGroup);
        assert_eq!(e.location.section, Some(Section::Exclude));
        assert_eq!(e.location.group_id.as_deref(), Some("g-insulin"));
        assert_eq!(e.location.field.as_deref(), Some("criteria"));
        assert_eq!(e.location.criterion_id, None);
        assert!(e.message.contains("Add Criteria"));
    }

    #[test]
    fn an_empty_temporal_list() {
        let mut def = example();
        def.include[2].temporal.as_mut().unwrap().second.clear();
        let e = only(&def);
        assert_eq!(e.code, ErrorCode::EmptyGroup);
        assert_eq!(e.location.field.as_deref(), Some("temporal.second"));
    }

    #[test]
    fn temporal_days() {
        for (days, code) in [
            (-1, ErrorCode::NegativeDays),
            (40_000, ErrorCode::OutOfRange),
        ] {
            for kind in [
                TemporalKind::XOrMoreDaysBefore { days },
                TemporalKind::XOrMoreDaysAfter { days },
                TemporalKind::WithinXDays { days },
            ] {
                let mut def = example();
                def.include[2].temporal.as_mut().unwrap().kind = kind;
                let e = only(&def);
                assert_eq!(e.code, code);
                assert_eq!(e.location.field.as_deref(), Some("temporal.kind.days"));
                assert_eq!(e.location.group_id.as_deref(), Some("g-hba1c"));
            }
        }
        let mut def = example();
        def.include[2].temporal.as_mut().unwrap().kind = TemporalKind::XOrMoreDaysAfter { days: 0 };
        assert_eq!(validate(&def), Ok(()));
        def.include[2].temporal.as_mut().unwrap().kind = TemporalKind::DuringSameEncounter {};
        assert_eq!(validate(&def), Ok(()));
    }

    #[test]
    fn mentions_and_temporal_groups_need_event_criteria() {
        let mut def = example();
        def.include[1].mention = Mention::FirstMention;
        let e = only(&def);
        assert_eq!(e.code, ErrorCode::NotAnEventCriterion);
        assert_eq!(e.location.criterion_id.as_deref(), Some("c-age"));
        assert!(e.message.contains("First mention of"), "{}", e.message);

        let mut def = example();
        def.include[2]
            .temporal
            .as_mut()
            .unwrap()
            .second
            .push(criterion("c-ehr", CriterionKind::HasEhrData {}));
        let e = only(&def);
        assert_eq!(e.code, ErrorCode::NotAnEventCriterion);
        assert_eq!(e.location.list, Some(CriteriaList::TemporalSecond));
        assert_eq!(e.location.criterion_index, Some(1));
    }

    #[test]
    fn survey_answers_need_their_question() {
        let e = only(&one(criterion(
            "s",
            CriterionKind::Survey {
                module_concept_id: 1585855,
                question_concept_id: None,
                answer_concept_id: Some(1585856),
            },
        )));
        assert_eq!(e.code, ErrorCode::AnswerWithoutQuestion);
    }

    #[test]
    fn concept_ids_and_lists() {
        let e = only(&one(domain("c", Domain::Drug, 0)));
        assert_eq!(e.code, ErrorCode::InvalidConceptId);
        assert_eq!(e.location.field.as_deref(), Some("kind.concept_id"));
        let e = only(&one(criterion(
            "r",
            CriterionKind::Race {
                concept_ids: vec![],
            },
        )));
        assert_eq!(e.code, ErrorCode::EmptyList);
        assert!(e.message.contains("race"));
        let e = only(&one(criterion(
            "r",
            CriterionKind::Ethnicity {
                concept_ids: vec![38003563, -4, -5],
            },
        )));
        assert_eq!(e.code, ErrorCode::InvalidConceptId);
        let e = only(&one(criterion(
            "r",
            CriterionKind::SexAtBirth {
                concept_ids: (1..=1_001).collect(),
            },
        )));
        assert_eq!(e.code, ErrorCode::TooManyConceptIds);
        assert!(e.message.contains("1,001"), "{}", e.message);
        let ok = one(criterion(
            "r",
            CriterionKind::GenderIdentity {
                concept_ids: (1..=1_000).collect(),
            },
        ));
        assert_eq!(validate(&ok), Ok(()));
    }

    #[test]
    fn ids() {
        for bad in ["", "has space", "é", &"x".repeat(MAX_ID_LEN + 1)] {
            let e = only(&one(domain(bad, Domain::Drug, 1)));
            assert_eq!(e.code, ErrorCode::InvalidId, "{bad:?}");
            assert_eq!(e.location.field.as_deref(), Some("id"));
        }
        let mut def = example();
        def.exclude[0].id = "g-age".into();
        let e = only(&def);
        assert_eq!(e.code, ErrorCode::DuplicateId);
        assert_eq!(e.location.section, Some(Section::Exclude));
        let mut def = example();
        def.exclude[0].criteria[0].id = "c-t2d-index".into();
        let e = only(&def);
        assert_eq!(e.code, ErrorCode::DuplicateId);
        assert_eq!(e.location.criterion_id.as_deref(), Some("c-t2d-index"));
    }

    #[test]
    fn an_include_group_is_required() {
        let mut def = example();
        def.include.clear();
        let e = only(&def);
        assert_eq!(e.code, ErrorCode::NoIncludeGroup);
        assert_eq!(e.location, Location::default());
    }

    fn numbered(groups: usize, per_group: usize) -> CohortDefinition {
        let mut n = 0;
        let include = (0..groups)
            .map(|g| {
                let criteria = (0..per_group)
                    .map(|_| {
                        n += 1;
                        domain(&format!("c{n}"), Domain::Condition, n)
                    })
                    .collect();
                group(&format!("g{g}"), criteria)
            })
            .collect();
        CohortDefinition {
            include,
            exclude: vec![],
        }
    }

    #[test]
    fn size_limits() {
        assert_eq!(validate(&numbered(MAX_GROUPS, 25)), Ok(()));
        assert_eq!(validate(&numbered(10, MAX_CRITERIA_PER_GROUP)), Ok(()));

        let mut def = numbered(MAX_GROUPS, 1);
        let extra = def.include.pop().unwrap();
        def.exclude = vec![
            extra.clone(),
            Group {
                id: "g-extra".into(),
                criteria: vec![domain("c-extra", Domain::Drug, 9)],
                ..extra
            },
        ];
        let e = only(&def);
        assert_eq!(e.code, ErrorCode::TooManyGroups);
        assert!(e.message.contains("21 groups"), "{}", e.message);

        let e = only(&numbered(1, MAX_CRITERIA_PER_GROUP + 1));
        assert_eq!(e.code, ErrorCode::TooManyCriteriaInGroup);
        assert_eq!(e.location.group_id.as_deref(), Some("g0"));

        // The temporal list counts towards the group's size.
        let mut def = numbered(1, MAX_CRITERIA_PER_GROUP);
        def.include[0].temporal = Some(Temporal {
            kind: TemporalKind::DuringSameEncounter {},
            second: vec![domain("c-second", Domain::Visit, 9201)],
        });
        assert_eq!(only(&def).code, ErrorCode::TooManyCriteriaInGroup);

        let e = only(&numbered(11, 46));
        assert_eq!(e.code, ErrorCode::TooManyCriteria);
        assert!(e.message.contains("506"), "{}", e.message);
    }

    #[test]
    fn errors_are_in_order_and_capped() {
        let mut def = example();
        def.include[0].criteria[0].modifiers.occurrences_at_least = Some(0);
        def.exclude[0].criteria.clear();
        let codes: Vec<_> = errors(&def).iter().map(|e| e.code).collect();
        assert_eq!(codes, [ErrorCode::ZeroOccurrences, ErrorCode::EmptyGroup]);

        let mut def = numbered(MAX_GROUPS, 25);
        for g in &mut def.include {
            for c in &mut g.criteria {
                c.modifiers.occurrences_at_least = Some(0);
            }
        }
        assert_eq!(errors(&def).len(), MAX_REPORTED_ERRORS);
    }

    #[test]
    fn referenced_concepts_with_their_domains() {
        let refs = referenced_concepts(&example());
        let got: Vec<_> = refs
            .iter()
            .map(|r| {
                (
                    r.concept_id,
                    r.expected,
                    r.location.criterion_id.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (201826, ExpectedDomain::Ehr(Domain::Condition), "c-t2d"),
                (3004410, ExpectedDomain::Ehr(Domain::Measurement), "c-hba1c"),
                (
                    201826,
                    ExpectedDomain::Ehr(Domain::Condition),
                    "c-t2d-index"
                ),
                (1596977, ExpectedDomain::Ehr(Domain::Drug), "c-insulin"),
            ]
        );
        assert_eq!(refs[2].location.list, Some(CriteriaList::TemporalSecond));
        assert_eq!(refs[3].location.section, Some(Section::Exclude));

        let e = refs[3].wrong_domain("Condition");
        assert_eq!(e.code, ErrorCode::WrongDomain);
        assert_eq!(
            e.message,
            "Concept 1596977 belongs to Condition, not to Drugs."
        );
        assert_eq!(e.location.field.as_deref(), Some("kind.concept_id"));
        assert_eq!(refs[0].unknown().code, ErrorCode::UnknownConcept);

        let c = Criterion {
            id: "c".into(),
            kind: CriterionKind::Survey {
                module_concept_id: 1,
                question_concept_id: Some(2),
                answer_concept_id: Some(3),
            },
            modifiers: Modifiers {
                age_at_event: None,
                occurrences_at_least: None,
                event_date: None,
                during_visit_type: None,
            },
        };
        let mut m = measurement(ValueFilter::In {
            value_concept_ids: vec![7],
        });
        m.id = "m".into();
        m.modifiers.during_visit_type = Some(vec![9201]);
        let def = CohortDefinition {
            include: vec![
                group("a", vec![c]),
                group(
                    "b",
                    vec![
                        m,
                        criterion(
                            "r",
                            CriterionKind::Race {
                                concept_ids: vec![8527],
                            },
                        ),
                    ],
                ),
            ],
            exclude: vec![],
        };
        let got: Vec<_> = referenced_concepts(&def)
            .into_iter()
            .map(|r| (r.concept_id, r.expected, r.location.field.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    1,
                    ExpectedDomain::SurveyModule,
                    "kind.module_concept_id".to_owned()
                ),
                (
                    2,
                    ExpectedDomain::SurveyQuestion,
                    "kind.question_concept_id".into()
                ),
                (
                    3,
                    ExpectedDomain::SurveyAnswer,
                    "kind.answer_concept_id".into()
                ),
                (
                    3004410,
                    ExpectedDomain::Ehr(Domain::Measurement),
                    "kind.concept_id".into()
                ),
                (
                    7,
                    ExpectedDomain::MeasurementValue,
                    "kind.value.value_concept_ids".into()
                ),
                (
                    9201,
                    ExpectedDomain::Ehr(Domain::Visit),
                    "modifiers.during_visit_type".into()
                ),
                (8527, ExpectedDomain::Race, "kind.concept_ids".into()),
            ]
        );
    }

    #[test]
    fn the_hash_follows_meaning() {
        let base = example();
        let h = definition_hash(&base);
        assert_eq!(h.len(), 64);
        assert!(
            h.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );

        // Whitespace, key order and defaults written out do not matter.
        let compact: CohortDefinition =
            serde_json::from_str(&serde_json::to_string(&base).unwrap()).unwrap();
        assert_eq!(definition_hash(&compact), h);

        // Group order matters.
        let mut swapped = base.clone();
        swapped.include.swap(0, 1);
        assert_ne!(definition_hash(&swapped), h);

        // So does any value.
        let mut other = base.clone();
        other.include[2].temporal.as_mut().unwrap().kind = TemporalKind::WithinXDays { days: 91 };
        assert_ne!(definition_hash(&other), h);
        let mut other = base.clone();
        other.include[1].suppressed = true;
        assert_ne!(definition_hash(&other), h);

        // Concept id lists are sets.
        let race =
            |ids: Vec<ConceptId>| one(criterion("r", CriterionKind::Race { concept_ids: ids }));
        assert_eq!(
            definition_hash(&race(vec![8527, 8516, 8515])),
            definition_hash(&race(vec![8515, 8527, 8516, 8527]))
        );
        assert_ne!(
            definition_hash(&race(vec![8527])),
            definition_hash(&race(vec![8527, 8516]))
        );
    }

    #[test]
    fn displayed_counts() {
        assert_eq!(SUPPRESSION_THRESHOLD, 20);
        assert_eq!(displayed_count(0), DisplayedCount::Exact(0));
        assert_eq!(displayed_count(0).to_string(), "0");
        for n in [1, 2, 19, 20] {
            assert_eq!(displayed_count(n), DisplayedCount::Suppressed);
            assert_eq!(displayed_count(n).to_string(), "≤ 20");
            assert_eq!(displayed_count(n).exact(), None);
        }
        assert_eq!(displayed_count(21), DisplayedCount::Exact(21));
        assert_eq!(displayed_count(21).to_string(), "21");
        assert_eq!(displayed_count(1234567).to_string(), "1,234,567");
        assert_eq!(displayed_count(1000).to_string(), "1,000");
        assert_eq!(displayed_count(999).to_string(), "999");
        assert_eq!(
            displayed_count(u64::MAX).to_string(),
            "18,446,744,073,709,551,615"
        );
    }

    mod props {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        fn concept() -> impl Strategy<Value = ConceptId> {
            1i64..3_000_000_000
        }

        fn concepts() -> impl Strategy<Value = Vec<ConceptId>> {
            vec(concept(), 1..5)
        }

        fn number() -> impl Strategy<Value = f64> {
            any::<f64>().prop_filter("finite", |v| v.is_finite())
        }

        fn value_filter() -> impl Strategy<Value = ValueFilter> {
            prop_oneof![
                number().prop_map(|value| ValueFilter::Equal { value }),
                number().prop_map(|value| ValueFilter::NotEqual { value }),
                number().prop_map(|value| ValueFilter::LessThan { value }),
                number().prop_map(|value| ValueFilter::GreaterThan { value }),
                number().prop_map(|value| ValueFilter::LessThanOrEqualTo { value }),
                number().prop_map(|value| ValueFilter::GreaterThanOrEqualTo { value }),
                (number(), number()).prop_map(|(a, b)| ValueFilter::Between {
                    min: a.min(b),
                    max: a.max(b)
                }),
                concepts().prop_map(|value_concept_ids| ValueFilter::In { value_concept_ids }),
            ]
        }

        fn domain_kind() -> impl Strategy<Value = Domain> {
            proptest::sample::select(Domain::ALL.to_vec())
        }

        fn event_kind() -> impl Strategy<Value = CriterionKind> {
            prop_oneof![
                (concept(), proptest::option::of(concept()), any::<bool>()).prop_map(
                    |(m, q, with_answer)| CriterionKind::Survey {
                        module_concept_id: m,
                        question_concept_id: q,
                        answer_concept_id: q.filter(|_| with_answer).map(|q| q + 1),
                    }
                ),
                (concept(), proptest::option::of(value_filter())).prop_map(
                    |(concept_id, value)| {
                        CriterionKind::PhysicalMeasurement { concept_id, value }
                    }
                ),
                (
                    domain_kind(),
                    concept(),
                    any::<bool>(),
                    proptest::option::of(value_filter())
                )
                    .prop_map(
                        |(domain, concept_id, include_descendants, value)| {
                            CriterionKind::Domain {
                                domain,
                                concept_id,
                                include_descendants,
                                value: value.filter(|_| domain == Domain::Measurement),
                            }
                        }
                    ),
            ]
        }

        fn person_kind() -> impl Strategy<Value = CriterionKind> {
            prop_oneof![
                (
                    proptest::sample::select(AgeBasis::ALL.to_vec()),
                    0..=MAX_AGE,
                    0..=MAX_AGE
                )
                    .prop_map(|(basis, a, b)| CriterionKind::Age {
                        basis,
                        min: a.min(b),
                        max: a.max(b)
                    }),
                Just(CriterionKind::Deceased {}),
                Just(CriterionKind::HasEhrData {}),
                concepts().prop_map(|concept_ids| CriterionKind::Ethnicity { concept_ids }),
                concepts().prop_map(|concept_ids| CriterionKind::GenderIdentity { concept_ids }),
                concepts().prop_map(|concept_ids| CriterionKind::Race { concept_ids }),
                concepts().prop_map(|concept_ids| CriterionKind::SexAtBirth { concept_ids }),
            ]
        }

        fn day() -> impl Strategy<Value = NaiveDate> {
            (0i32..60_000).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(700_000 + d).unwrap())
        }

        fn modifiers() -> impl Strategy<Value = Modifiers> {
            let age = (
                proptest::option::of(0..=MAX_AGE),
                proptest::option::of(0..=MAX_AGE),
            )
                .prop_filter("one end", |(a, b)| a.is_some() || b.is_some())
                .prop_map(|(a, b)| match (a, b) {
                    (Some(a), Some(b)) => AgeRange {
                        min: Some(a.min(b)),
                        max: Some(a.max(b)),
                    },
                    (min, max) => AgeRange { min, max },
                });
            let date = prop_oneof![
                day().prop_map(|date| DateFilter::OnOrBefore { date }),
                day().prop_map(|date| DateFilter::OnOrAfter { date }),
                (day(), day()).prop_map(|(a, b)| DateFilter::Between {
                    start: a.min(b),
                    end: a.max(b)
                }),
            ];
            (
                proptest::option::of(age),
                proptest::option::of(1u32..1_000),
                proptest::option::of(date),
                proptest::option::of(concepts()),
            )
                .prop_map(
                    |(age_at_event, occurrences_at_least, event_date, during_visit_type)| {
                        Modifiers {
                            age_at_event,
                            occurrences_at_least,
                            event_date,
                            during_visit_type,
                        }
                    },
                )
        }

        fn event_criterion() -> impl Strategy<Value = Criterion> {
            (event_kind(), modifiers()).prop_map(|(kind, mut modifiers)| {
                if !matches!(kind, CriterionKind::Domain { .. }) {
                    modifiers.during_visit_type = None;
                }
                Criterion {
                    id: String::new(),
                    kind,
                    modifiers,
                }
            })
        }

        fn any_criterion() -> impl Strategy<Value = Criterion> {
            prop_oneof![
                event_criterion(),
                person_kind().prop_map(|kind| Criterion {
                    id: String::new(),
                    kind,
                    modifiers: Modifiers::default(),
                }),
            ]
        }

        fn temporal_kind() -> impl Strategy<Value = TemporalKind> {
            let days = 0..=MAX_TEMPORAL_DAYS;
            prop_oneof![
                Just(TemporalKind::DuringSameEncounter {}),
                days.clone()
                    .prop_map(|days| TemporalKind::XOrMoreDaysBefore { days }),
                days.clone()
                    .prop_map(|days| TemporalKind::XOrMoreDaysAfter { days }),
                days.prop_map(|days| TemporalKind::WithinXDays { days }),
            ]
        }

        fn valid_group() -> impl Strategy<Value = Group> {
            let plain =
                (vec(any_criterion(), 1..5), any::<bool>()).prop_map(|(criteria, suppressed)| {
                    Group {
                        id: String::new(),
                        criteria,
                        mention: Mention::AnyMention,
                        temporal: None,
                        suppressed,
                    }
                });
            let events = (
                vec(event_criterion(), 1..4),
                proptest::sample::select(Mention::ALL.to_vec()),
                proptest::option::of((temporal_kind(), vec(event_criterion(), 1..3))),
                any::<bool>(),
            )
                .prop_map(|(criteria, mention, temporal, suppressed)| Group {
                    id: String::new(),
                    criteria,
                    mention,
                    temporal: temporal.map(|(kind, second)| Temporal { kind, second }),
                    suppressed,
                });
            prop_oneof![plain, events]
        }

        /// Gives every group and criterion a unique id.
        fn number_ids(mut def: CohortDefinition) -> CohortDefinition {
            let mut n = 0;
            for (g_index, g) in def
                .include
                .iter_mut()
                .chain(def.exclude.iter_mut())
                .enumerate()
            {
                g.id = format!("g{g_index}");
                let second = g.temporal.iter_mut().flat_map(|t| t.second.iter_mut());
                for c in g.criteria.iter_mut().chain(second) {
                    n += 1;
                    c.id = format!("c-{n}");
                }
            }
            def
        }

        fn valid_definition() -> impl Strategy<Value = CohortDefinition> {
            (vec(valid_group(), 1..5), vec(valid_group(), 0..3))
                .prop_map(|(include, exclude)| number_ids(CohortDefinition { include, exclude }))
        }

        // Anything at all, including what validate must refuse.

        fn wild_id() -> impl Strategy<Value = String> {
            "[a-c0-9 é_-]{0,3}"
        }

        fn wild_concepts() -> impl Strategy<Value = Vec<ConceptId>> {
            vec(any::<i64>(), 0..4)
        }

        fn wild_value() -> impl Strategy<Value = ValueFilter> {
            prop_oneof![
                any::<f64>().prop_map(|value| ValueFilter::Equal { value }),
                any::<f64>().prop_map(|value| ValueFilter::GreaterThanOrEqualTo { value }),
                (any::<f64>(), any::<f64>())
                    .prop_map(|(min, max)| ValueFilter::Between { min, max }),
                wild_concepts().prop_map(|value_concept_ids| ValueFilter::In { value_concept_ids }),
            ]
        }

        fn wild_kind() -> impl Strategy<Value = CriterionKind> {
            prop_oneof![
                (
                    proptest::sample::select(AgeBasis::ALL.to_vec()),
                    any::<u32>(),
                    any::<u32>()
                )
                    .prop_map(|(basis, min, max)| CriterionKind::Age {
                        basis,
                        min,
                        max
                    }),
                Just(CriterionKind::Deceased {}),
                Just(CriterionKind::HasEhrData {}),
                wild_concepts().prop_map(|concept_ids| CriterionKind::Race { concept_ids }),
                wild_concepts().prop_map(|concept_ids| CriterionKind::SexAtBirth { concept_ids }),
                (
                    any::<i64>(),
                    proptest::option::of(any::<i64>()),
                    proptest::option::of(any::<i64>())
                )
                    .prop_map(|(m, q, a)| CriterionKind::Survey {
                        module_concept_id: m,
                        question_concept_id: q,
                        answer_concept_id: a
                    }),
                (any::<i64>(), proptest::option::of(wild_value())).prop_map(
                    |(concept_id, value)| {
                        CriterionKind::PhysicalMeasurement { concept_id, value }
                    }
                ),
                (
                    domain_kind(),
                    any::<i64>(),
                    any::<bool>(),
                    proptest::option::of(wild_value())
                )
                    .prop_map(
                        |(domain, concept_id, include_descendants, value)| {
                            CriterionKind::Domain {
                                domain,
                                concept_id,
                                include_descendants,
                                value,
                            }
                        }
                    ),
            ]
        }

        fn wild_day() -> impl Strategy<Value = NaiveDate> {
            (-1_000_000i32..1_000_000)
                .prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).unwrap_or_default())
        }

        fn wild_modifiers() -> impl Strategy<Value = Modifiers> {
            let age = (
                proptest::option::of(any::<u32>()),
                proptest::option::of(any::<u32>()),
            )
                .prop_map(|(min, max)| AgeRange { min, max });
            let date = prop_oneof![
                wild_day().prop_map(|date| DateFilter::OnOrAfter { date }),
                (wild_day(), wild_day())
                    .prop_map(|(start, end)| DateFilter::Between { start, end }),
            ];
            (
                proptest::option::of(age),
                proptest::option::of(any::<u32>()),
                proptest::option::of(date),
                proptest::option::of(wild_concepts()),
            )
                .prop_map(
                    |(age_at_event, occurrences_at_least, event_date, during_visit_type)| {
                        Modifiers {
                            age_at_event,
                            occurrences_at_least,
                            event_date,
                            during_visit_type,
                        }
                    },
                )
        }

        fn wild_criterion() -> impl Strategy<Value = Criterion> {
            (wild_id(), wild_kind(), wild_modifiers()).prop_map(|(id, kind, modifiers)| Criterion {
                id,
                kind,
                modifiers,
            })
        }

        fn wild_temporal() -> impl Strategy<Value = TemporalKind> {
            prop_oneof![
                Just(TemporalKind::DuringSameEncounter {}),
                any::<i64>().prop_map(|days| TemporalKind::XOrMoreDaysBefore { days }),
                any::<i64>().prop_map(|days| TemporalKind::WithinXDays { days }),
            ]
        }

        fn wild_group() -> impl Strategy<Value = Group> {
            (
                wild_id(),
                vec(wild_criterion(), 0..4),
                proptest::sample::select(Mention::ALL.to_vec()),
                proptest::option::of((wild_temporal(), vec(wild_criterion(), 0..3))),
                any::<bool>(),
            )
                .prop_map(|(id, criteria, mention, temporal, suppressed)| Group {
                    id,
                    criteria,
                    mention,
                    temporal: temporal.map(|(kind, second)| Temporal { kind, second }),
                    suppressed,
                })
        }

        fn wild_definition() -> impl Strategy<Value = CohortDefinition> {
            (vec(wild_group(), 0..14), vec(wild_group(), 0..10))
                .prop_map(|(include, exclude)| CohortDefinition { include, exclude })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn valid_definitions_validate_and_round_trip(def in valid_definition()) {
                prop_assert_eq!(validate(&def), Ok(()));
                let json = serde_json::to_string(&def).unwrap();
                let back: CohortDefinition = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(&back, &def);
                prop_assert_eq!(definition_hash(&back), definition_hash(&def));
                // Pretty JSON is the same definition too.
                let pretty: CohortDefinition =
                    serde_json::from_str(&serde_json::to_string_pretty(&def).unwrap()).unwrap();
                prop_assert_eq!(definition_hash(&pretty), definition_hash(&def));
                // Canonical form is valid, idempotent and hashes the same.
                let c = canonical(&def);
                prop_assert_eq!(validate(&c), Ok(()));
                prop_assert_eq!(canonical(&c), c.clone());
                prop_assert_eq!(definition_hash(&c), definition_hash(&def));
                // Every reference points at a real place and a positive id.
                for r in referenced_concepts(&def) {
                    prop_assert!(r.concept_id > 0);
                    prop_assert!(r.location.criterion_id.is_some() && r.location.field.is_some());
                }
            }

            #[test]
            fn validate_never_panics(def in wild_definition()) {
                match validate(&def) {
                    Ok(()) => {}
                    Err(errs) => {
                        prop_assert!(!errs.is_empty() && errs.len() <= MAX_REPORTED_ERRORS);
                        for e in &errs {
                            prop_assert!(!e.message.is_empty());
                            let _ = e.to_string();
                        }
                    }
                }
                let _ = definition_hash(&def);
                let _ = referenced_concepts(&def);
            }
        }
    }
}
