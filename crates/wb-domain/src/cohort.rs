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
    #[serde(rename = "DURING_SAME_ENCOUNTER_AS")]
    DuringSameEncounter,
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
            TemporalKind::DuringSameEncounter => "During same encounter as",
            TemporalKind::XOrMoreDaysBefore { .. } => "X or more days before",
            TemporalKind::XOrMoreDaysAfter { .. } => "X or more days after",
            TemporalKind::WithinXDays { .. } => "On or within X days of",
        }
    }

    pub fn days(self) -> Option<i64> {
        match self {
            TemporalKind::DuringSameEncounter => None,
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
    /// "Deceased".
    Deceased,
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
    HasEhrData,
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
            CriterionKind::Deceased => ui::DECEASED,
            CriterionKind::Ethnicity { .. } => "Ethnicity",
            CriterionKind::GenderIdentity { .. } => "Gender Identity",
            CriterionKind::Race { .. } => "Race",
            CriterionKind::SexAtBirth { .. } => "Sex Assigned at Birth",
            CriterionKind::Survey { .. } => "Surveys",
            CriterionKind::PhysicalMeasurement { .. } => "Physical Measurements",
            CriterionKind::Domain { domain, .. } => domain.label(),
            CriterionKind::HasEhrData => ui::HAS_EHR_DATA,
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

    fn at(&self, field: &str) -> Location {
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
        CriterionKind::Deceased | CriterionKind::HasEhrData => {}
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
                if let (Some(a), Some(b)) = (min, max) {
                    if a > b {
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
    }
    if m.occurrences_at_least == Some(0) {
        errs.add(
            ErrorCode::ZeroOccurrences,
            loc.at("modifiers.occurrences_at_least"),
            format!("\"{}\" must be 1 or more.", ui::NUMBER_OF_OCCURRENCE_DATES),
        );
    }
    if let Some(DateFilter::Between { start, end }) = m.event_date {
        if end < start {
            errs.add(
                ErrorCode::DateRangeReversed,
                loc.at("modifiers.event_date"),
                format!(
                    "The \"{}\" range ends ({end}) before it starts ({start}).",
                    ui::EVENT_DATE
                ),
            );
        }
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
        CriterionKind::Age { .. } | CriterionKind::Deceased | CriterionKind::HasEhrData => {}
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
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
