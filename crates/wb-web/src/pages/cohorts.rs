//! The cohort builder's pages: "Cohorts +" on DATA ANALYSIS, the builder with its live counts,
//! "Add Criteria", saving, duplicating and deleting.
//!
//! The builder keeps no state in the browser. Every edit (a criterion added, a modifier applied,
//! a group option changed) is one POST that applies a [`wb_domain::cohort_edit::Edit`] to the
//! researcher's draft on the server and answers with the builder counted again, so a refresh or
//! a dropped connection loses nothing and there is no "Calculate" button. With htmx the answer
//! replaces the builder in place; without it the POST redirects back to the page.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;
use wb_domain::analysis::{
    ConceptHit, ConceptQuery, CountAnswer, DisplayedCounts, Shown, ShownBar,
};
use wb_domain::cohort::{
    self, AgeBasis, AgeRange, CohortDefinition, CriterionError, CriterionKind, DateFilter, Domain,
    Mention, Modifiers, Section, TemporalKind, ValueFilter,
};
use wb_domain::cohort_edit::{self, Edit};
use wb_domain::workspace::{self, WorkspaceAction};
use wb_store::{CohortRecord, DraftWrite};

use super::{Layout, ok, page};
use crate::cohorts::{SaveError, SaveTarget};
use crate::error::{WebError, WebResult};
use crate::guard::{Session, SignedIn};
use crate::pages::workspaces::{Opened, open_workspace};
use crate::state::AppState;
use crate::when::Stamp;

/// Which cohort the builder edits: one not saved yet, or a saved one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    New,
    Saved(i64),
}

impl Key {
    fn parse(s: &str) -> WebResult<Key> {
        if s == "new" {
            return Ok(Key::New);
        }
        s.parse().map(Key::Saved).map_err(|_| WebError::NotFound)
    }

    fn path(self) -> String {
        match self {
            Key::New => "new".into(),
            Key::Saved(id) => id.to_string(),
        }
    }

    fn id(self) -> Option<i64> {
        match self {
            Key::New => None,
            Key::Saved(id) => Some(id),
        }
    }
}

/// The builder's subject: the workspace, the saved cohort if any, and the definition shown
/// (the caller's draft when there is one).
struct Loaded {
    o: Opened,
    key: Key,
    saved: Option<CohortRecord>,
    def: CohortDefinition,
    /// When the draft shown was last written (`None`: no draft, the saved definition).
    draft_at: Option<i64>,
    /// A draft that is not a definition (written through the API): why.
    unreadable: Option<String>,
    editable: bool,
}

async fn load(state: &AppState, s: &Session, ns: &str, key: &str, edit: bool) -> WebResult<Loaded> {
    let key = Key::parse(key)?;
    let action = if edit || key == Key::New {
        WorkspaceAction::EditAnalysis
    } else {
        WorkspaceAction::View
    };
    let o = open_workspace(state, s, ns, action).await?;
    let editable = workspace::allows(o.role, WorkspaceAction::EditAnalysis);
    let saved = match key {
        Key::New => None,
        Key::Saved(id) => Some(
            state
                .store
                .cohort(o.ws.id, id)
                .await?
                .ok_or(WebError::NotFound)?,
        ),
    };
    let draft = if editable {
        state
            .store
            .cohort_draft(o.ws.id, s.user.id, key.id())
            .await?
    } else {
        None
    };
    let saved_def = saved
        .as_ref()
        .and_then(|c| serde_json::from_str::<CohortDefinition>(&c.definition).ok())
        .unwrap_or_default();
    let (def, draft_at, unreadable) = match draft {
        Some((text, at)) => match serde_json::from_str::<CohortDefinition>(&text) {
            Ok(d) => (d, Some(at), None),
            Err(e) => (saved_def, None, Some(e.to_string())),
        },
        None => (saved_def, None, None),
    };
    Ok(Loaded {
        o,
        key,
        saved,
        def,
        draft_at,
        unreadable,
        editable,
    })
}

// ---------------------------------------------------------------------------------------------
// The builder's view
// ---------------------------------------------------------------------------------------------

/// A choice of a select or a checkbox list.
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices<T: PartialEq>(all: &[(T, &str, &str)], current: &T) -> Vec<Choice> {
    all.iter()
        .map(|(v, code, label)| Choice {
            value: (*code).into(),
            label: (*label).into(),
            selected: v == current,
        })
        .collect()
}

/// The form fields of one criterion, as strings (so what was typed can be shown again).
#[derive(Default, Clone)]
struct Fields {
    basis: String,
    min: String,
    max: String,
    age_min: String,
    age_max: String,
    occurrences: String,
    date_op: String,
    date_start: String,
    date_end: String,
    visit_types: Vec<String>,
    value_op: String,
    value: String,
    value_min: String,
    value_max: String,
    value_concepts: Vec<String>,
}

struct CriterionView {
    id: String,
    menu: &'static str,
    title: String,
    detail: String,
    count: String,
    errors: Vec<String>,
    is_event: bool,
    is_age: bool,
    /// `Some(on)` for domain criteria.
    descendants: Option<bool>,
    /// Measurements take a value filter.
    has_value: bool,
    /// Domain criteria take "During Visit Type".
    takes_visit: bool,
    summary: Vec<String>,
    fields: Fields,
    bases: Vec<Choice>,
    value_ops: Vec<Choice>,
    date_ops: Vec<Choice>,
    visit_choices: Vec<Choice>,
    value_choices: Vec<Choice>,
    /// The modifiers form starts open (something was refused there).
    open: bool,
}

struct GroupView {
    id: String,
    title: String,
    count: String,
    suppressed: bool,
    errors: Vec<String>,
    criteria: Vec<CriterionView>,
    second: Vec<CriterionView>,
    events_only: bool,
    mentions: Vec<Choice>,
    temporals: Vec<Choice>,
    temporal: bool,
    days: String,
}

struct SectionView {
    code: &'static str,
    title: &'static str,
    groups: Vec<GroupView>,
}

struct Bar {
    label: String,
    display: String,
    y: u32,
    width: f64,
    marked: bool,
    text_x: f64,
}

struct Panel {
    title: &'static str,
    height: u32,
    bars: Vec<Bar>,
}

/// One part of the "Add Criteria" menu: its heading, sub-heading and `(type, label)` entries.
pub type MenuPart = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The menu of "Add Criteria" (the reference system's order and words).
pub const MENU: [MenuPart; 3] = [
    (
        "Program Data",
        "Demographics",
        &[
            ("age", "Age"),
            ("deceased", "Deceased"),
            ("ethnicity", "Ethnicity"),
            ("gender", "Gender Identity"),
            ("race", "Race"),
            ("sex", "Sex Assigned at Birth"),
        ],
    ),
    (
        "",
        "",
        &[("survey", "Surveys"), ("pm", "Physical Measurements")],
    ),
    (
        "Domains",
        "",
        &[
            ("condition", "Conditions"),
            ("procedure", "Procedures"),
            ("drug", "Drugs"),
            ("measurement", "Labs and Measurements"),
            ("visit", "Visits"),
            ("observation", "Observations"),
            ("device", "Devices"),
            ("ehr", "Has EHR data"),
        ],
    ),
];

struct SavedInfo {
    id: i64,
    name: String,
    description: String,
    revision: i64,
    updated: Stamp,
    count: Option<String>,
    recounted: bool,
}

#[derive(Template)]
#[template(path = "cohort_builder.html")]
struct BuilderPage {
    layout: Layout,
    ns: String,
    ws_name: String,
    key: String,
    editable: bool,
    saved: Option<SavedInfo>,
    unsaved: bool,
    draft_at: Option<Stamp>,
    unreadable: Option<String>,
    sections: Vec<SectionView>,
    top_errors: Vec<String>,
    total: Option<String>,
    persons: Option<String>,
    attrition: Vec<(String, String)>,
    panels: Vec<Panel>,
    unavailable: Option<String>,
    notice: Option<String>,
    /// The save form, as typed.
    name: String,
    description: String,
    save_error: Option<String>,
    menu: &'static [MenuPart],
    is_empty: bool,
}

/// What a refused edit or save leaves on the page: where, why, and the fields as typed.
struct Refused {
    at: String,
    message: String,
    fields: Fields,
    days: String,
    /// The group's temporal relation as chosen.
    temporal: Option<String>,
}

const VALUE_OPS: [(&str, &str); 9] = [
    ("ANY", "Any value"),
    ("EQUAL", "Equal to"),
    ("NOT_EQUAL", "Not equal to"),
    ("LESS_THAN", "Less than"),
    ("GREATER_THAN", "Greater than"),
    ("LESS_THAN_OR_EQUAL_TO", "Less than or equal to"),
    ("GREATER_THAN_OR_EQUAL_TO", "Greater than or equal to"),
    ("BETWEEN", "Between"),
    ("IN", "Is one of"),
];

const DATE_OPS: [(&str, &str); 4] = [
    ("", "Any date"),
    ("ON_OR_BEFORE", "Is On or Before"),
    ("ON_OR_AFTER", "Is On or After"),
    ("BETWEEN", "Is Between"),
];

fn basis_code(b: AgeBasis) -> &'static str {
    match b {
        AgeBasis::Current => "AGE",
        AgeBasis::AtConsent => "AGE_AT_CONSENT",
        AgeBasis::AtCdr => "AGE_AT_CDR",
    }
}

fn mention_code(m: Mention) -> &'static str {
    match m {
        Mention::AnyMention => "ANY_MENTION",
        Mention::FirstMention => "FIRST_MENTION",
        Mention::LastMention => "LAST_MENTION",
    }
}

fn temporal_code(t: Option<TemporalKind>) -> &'static str {
    match t {
        None => "",
        Some(TemporalKind::DuringSameEncounter {}) => "DURING_SAME_ENCOUNTER_AS",
        Some(TemporalKind::XOrMoreDaysBefore { .. }) => "X_DAYS_BEFORE",
        Some(TemporalKind::XOrMoreDaysAfter { .. }) => "X_DAYS_AFTER",
        Some(TemporalKind::WithinXDays { .. }) => "WITHIN_X_DAYS_OF",
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        v.to_string()
    }
}

fn fields_of(c: &cohort::Criterion) -> Fields {
    let mut f = Fields::default();
    if let CriterionKind::Age { basis, min, max } = &c.kind {
        f.basis = basis_code(*basis).into();
        f.min = min.to_string();
        f.max = max.to_string();
    }
    let m = &c.modifiers;
    if let Some(a) = m.age_at_event {
        f.age_min = a.min.map(|v| v.to_string()).unwrap_or_default();
        f.age_max = a.max.map(|v| v.to_string()).unwrap_or_default();
    }
    f.occurrences = m
        .occurrences_at_least
        .map(|v| v.to_string())
        .unwrap_or_default();
    match m.event_date {
        Some(DateFilter::OnOrBefore { date }) => {
            f.date_op = "ON_OR_BEFORE".into();
            f.date_start = date.to_string();
        }
        Some(DateFilter::OnOrAfter { date }) => {
            f.date_op = "ON_OR_AFTER".into();
            f.date_start = date.to_string();
        }
        Some(DateFilter::Between { start, end }) => {
            f.date_op = "BETWEEN".into();
            f.date_start = start.to_string();
            f.date_end = end.to_string();
        }
        None => {}
    }
    f.visit_types = m
        .during_visit_type
        .iter()
        .flatten()
        .map(|v| v.to_string())
        .collect();
    let value = match &c.kind {
        CriterionKind::PhysicalMeasurement { value, .. } | CriterionKind::Domain { value, .. } => {
            value.as_ref()
        }
        _ => None,
    };
    f.value_op = "ANY".into();
    if let Some(v) = value {
        let (op, one) = match v {
            ValueFilter::Equal { value } => ("EQUAL", Some(*value)),
            ValueFilter::NotEqual { value } => ("NOT_EQUAL", Some(*value)),
            ValueFilter::LessThan { value } => ("LESS_THAN", Some(*value)),
            ValueFilter::GreaterThan { value } => ("GREATER_THAN", Some(*value)),
            ValueFilter::LessThanOrEqualTo { value } => ("LESS_THAN_OR_EQUAL_TO", Some(*value)),
            ValueFilter::GreaterThanOrEqualTo { value } => {
                ("GREATER_THAN_OR_EQUAL_TO", Some(*value))
            }
            ValueFilter::Between { min, max } => {
                f.value_min = num(*min);
                f.value_max = num(*max);
                ("BETWEEN", None)
            }
            ValueFilter::In { value_concept_ids } => {
                f.value_concepts = value_concept_ids.iter().map(|v| v.to_string()).collect();
                ("IN", None)
            }
        };
        f.value_op = op.into();
        f.value = one.map(num).unwrap_or_default();
    }
    f
}

fn value_text(v: &ValueFilter, names: &HashMap<i64, ConceptHit>) -> String {
    match v {
        ValueFilter::Equal { value } => format!("value = {}", num(*value)),
        ValueFilter::NotEqual { value } => format!("value ≠ {}", num(*value)),
        ValueFilter::LessThan { value } => format!("value < {}", num(*value)),
        ValueFilter::GreaterThan { value } => format!("value > {}", num(*value)),
        ValueFilter::LessThanOrEqualTo { value } => format!("value ≤ {}", num(*value)),
        ValueFilter::GreaterThanOrEqualTo { value } => format!("value ≥ {}", num(*value)),
        ValueFilter::Between { min, max } => format!("value {} to {}", num(*min), num(*max)),
        ValueFilter::In { value_concept_ids } => format!(
            "value is {}",
            value_concept_ids
                .iter()
                .map(|id| name_of(names, *id))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    }
}

fn name_of(names: &HashMap<i64, ConceptHit>, id: i64) -> String {
    names
        .get(&id)
        .map(|h| h.name.clone())
        .unwrap_or_else(|| format!("concept {id}"))
}

/// What the builder needs from the dataset besides counts: concept names and the choices of
/// the forms.
#[derive(Default)]
struct Lookups {
    names: HashMap<i64, ConceptHit>,
    visits: Vec<ConceptHit>,
    values: Vec<ConceptHit>,
}

fn title_of(kind: &CriterionKind, names: &HashMap<i64, ConceptHit>) -> (String, String) {
    let list = |ids: &[i64]| {
        ids.iter()
            .map(|id| name_of(names, *id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match kind {
        CriterionKind::Age { basis, min, max } => {
            (format!("{} {min}–{max}", basis.label()), String::new())
        }
        CriterionKind::Deceased {} => ("Deceased".into(), String::new()),
        CriterionKind::Ethnicity { concept_ids }
        | CriterionKind::GenderIdentity { concept_ids }
        | CriterionKind::Race { concept_ids }
        | CriterionKind::SexAtBirth { concept_ids } => (list(concept_ids), String::new()),
        CriterionKind::Survey {
            module_concept_id,
            question_concept_id,
            answer_concept_id,
        } => {
            let mut parts = vec![name_of(names, *module_concept_id)];
            parts.extend(question_concept_id.map(|q| name_of(names, q)));
            parts.extend(answer_concept_id.map(|a| name_of(names, a)));
            (parts.join(" › "), String::new())
        }
        CriterionKind::PhysicalMeasurement { concept_id, value } => (
            name_of(names, *concept_id),
            value
                .as_ref()
                .map(|v| value_text(v, names))
                .unwrap_or_default(),
        ),
        CriterionKind::Domain {
            concept_id,
            include_descendants,
            value,
            ..
        } => {
            let code = names
                .get(concept_id)
                .map(|h| format!("{} {}", h.vocabulary, h.code))
                .unwrap_or_default();
            let mut detail = vec![code];
            if *include_descendants {
                detail.push("with descendants".into());
            }
            if let Some(v) = value {
                detail.push(value_text(v, names));
            }
            (name_of(names, *concept_id), detail.join(" · "))
        }
        CriterionKind::HasEhrData {} => ("Has EHR data".into(), String::new()),
    }
}

fn summary_of(m: &Modifiers, names: &HashMap<i64, ConceptHit>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(a) = m.age_at_event {
        out.push(match (a.min, a.max) {
            (Some(lo), Some(hi)) => format!("Age At Event {lo}–{hi}"),
            (Some(lo), None) => format!("Age At Event ≥ {lo}"),
            (None, Some(hi)) => format!("Age At Event ≤ {hi}"),
            (None, None) => "Age At Event (no bounds)".into(),
        });
    }
    if let Some(n) = m.occurrences_at_least {
        out.push(format!("{n} or more occurrence dates"));
    }
    if let Some(d) = m.event_date {
        out.push(match d {
            DateFilter::OnOrBefore { date } => format!("Event Date on or before {date}"),
            DateFilter::OnOrAfter { date } => format!("Event Date on or after {date}"),
            DateFilter::Between { start, end } => format!("Event Date {start} to {end}"),
        });
    }
    if let Some(v) = &m.during_visit_type {
        out.push(format!(
            "During Visit Type: {}",
            v.iter()
                .map(|id| name_of(names, *id))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

struct Context<'a> {
    lookups: &'a Lookups,
    counts: Option<&'a DisplayedCounts>,
    errors: &'a [CriterionError],
    refused: Option<&'a Refused>,
}

impl Context<'_> {
    fn criterion_count(&self, id: &str) -> String {
        self.counts
            .and_then(|c| c.criteria.iter().find(|x| x.id == id))
            .map_or_else(|| "—".into(), |x| x.shown.to_string())
    }

    fn group_count(&self, id: &str) -> String {
        self.counts
            .and_then(|c| c.groups.iter().find(|x| x.id == id))
            .map_or_else(|| "—".into(), |x| x.shown.to_string())
    }
}

fn criterion_view(c: &cohort::Criterion, cx: &Context<'_>) -> CriterionView {
    let names = &cx.lookups.names;
    let (title, detail) = title_of(&c.kind, names);
    let mut errors: Vec<String> = cx
        .errors
        .iter()
        .filter(|e| e.location.criterion_id.as_deref() == Some(c.id.as_str()))
        .map(|e| e.message.clone())
        .collect();
    let mut fields = fields_of(c);
    let mut open = false;
    if let Some(r) = cx.refused.filter(|r| r.at == c.id) {
        errors.insert(0, r.message.clone());
        fields = r.fields.clone();
        open = true;
    }
    let has_value = matches!(
        c.kind,
        CriterionKind::PhysicalMeasurement { .. }
            | CriterionKind::Domain {
                domain: Domain::Measurement,
                ..
            }
    );
    let takes_visit = matches!(c.kind, CriterionKind::Domain { .. });
    let check = |list: &[String], id: i64| list.iter().any(|v| v == &id.to_string());
    CriterionView {
        menu: c.kind.menu_label(),
        title,
        detail,
        count: cx.criterion_count(&c.id),
        is_event: c.kind.is_event(),
        is_age: matches!(c.kind, CriterionKind::Age { .. }),
        descendants: match c.kind {
            CriterionKind::Domain {
                include_descendants,
                ..
            } => Some(include_descendants),
            _ => None,
        },
        has_value,
        takes_visit,
        summary: summary_of(&c.modifiers, names),
        bases: AgeBasis::ALL
            .iter()
            .map(|b| Choice {
                value: basis_code(*b).into(),
                label: b.label().into(),
                selected: fields.basis == basis_code(*b),
            })
            .collect(),
        value_ops: VALUE_OPS
            .iter()
            .map(|(v, l)| Choice {
                value: (*v).into(),
                label: (*l).into(),
                selected: fields.value_op == *v,
            })
            .collect(),
        date_ops: DATE_OPS
            .iter()
            .map(|(v, l)| Choice {
                value: (*v).into(),
                label: (*l).into(),
                selected: fields.date_op == *v,
            })
            .collect(),
        visit_choices: cx
            .lookups
            .visits
            .iter()
            .map(|h| Choice {
                value: h.concept_id.to_string(),
                label: h.name.clone(),
                selected: check(&fields.visit_types, h.concept_id),
            })
            .collect(),
        value_choices: cx
            .lookups
            .values
            .iter()
            .map(|h| Choice {
                value: h.concept_id.to_string(),
                label: h.name.clone(),
                selected: check(&fields.value_concepts, h.concept_id),
            })
            .collect(),
        open: open || !errors.is_empty(),
        errors,
        fields,
        id: c.id.clone(),
    }
}

fn group_views(groups: &[cohort::Group], cx: &Context<'_>) -> Vec<GroupView> {
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut errors: Vec<String> = cx
                .errors
                .iter()
                .filter(|e| {
                    e.location.group_id.as_deref() == Some(g.id.as_str())
                        && e.location.criterion_id.is_none()
                })
                .map(|e| e.message.clone())
                .collect();
            let mut days = g
                .temporal
                .as_ref()
                .and_then(|t| t.kind.days())
                .map(|d| d.to_string())
                .unwrap_or_default();
            let temporal = g.temporal.as_ref().map(|t| t.kind);
            let mut chosen = temporal_code(temporal).to_owned();
            if let Some(r) = cx.refused.filter(|r| r.at == g.id) {
                errors.insert(0, r.message.clone());
                days = r.days.clone();
                if let Some(t) = &r.temporal {
                    chosen = t.clone();
                }
            }
            GroupView {
                id: g.id.clone(),
                title: format!("Group {}", i + 1),
                count: cx.group_count(&g.id),
                suppressed: g.suppressed,
                errors,
                criteria: g.criteria.iter().map(|c| criterion_view(c, cx)).collect(),
                second: g
                    .temporal
                    .iter()
                    .flat_map(|t| t.second.iter())
                    .map(|c| criterion_view(c, cx))
                    .collect(),
                events_only: g.criteria.iter().all(|c| c.kind.is_event()),
                mentions: choices(
                    &Mention::ALL.map(|m| (m, mention_code(m), m.label())),
                    &g.mention,
                ),
                temporals: [
                    ("", "No temporal relation"),
                    ("DURING_SAME_ENCOUNTER_AS", "During same encounter as"),
                    ("X_DAYS_BEFORE", "X or more days before"),
                    ("X_DAYS_AFTER", "X or more days after"),
                    ("WITHIN_X_DAYS_OF", "On or within X days of"),
                ]
                .iter()
                .map(|(v, l)| Choice {
                    value: (*v).into(),
                    label: (*l).into(),
                    selected: chosen == *v,
                })
                .collect(),
                temporal: temporal.is_some(),
                days,
            }
        })
        .collect()
}

/// Draws one chart panel: each bar to its size, a bar from 1 to 20 drawn as 20 and marked.
fn panel(title: &'static str, bars: &[ShownBar]) -> Panel {
    const ROW: u32 = 30;
    const BAR_MAX: f64 = 220.0;
    let max = bars
        .iter()
        .map(|b| b.shown.count.unwrap_or(20))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let bars: Vec<Bar> = bars
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let n = b.shown.count.unwrap_or(20) as f64;
            let width = if b.shown.count == Some(0) {
                0.0
            } else {
                (n / max * BAR_MAX).max(2.0)
            };
            Bar {
                label: b.label.clone(),
                display: b.shown.to_string(),
                y: i as u32 * ROW,
                width,
                marked: b.shown.is_suppressed(),
                text_x: width + 6.0,
            }
        })
        .collect();
    Panel {
        title,
        height: (bars.len() as u32 * ROW).max(ROW),
        bars,
    }
}

async fn lookups(state: &AppState, o: &Opened, def: &CohortDefinition) -> Lookups {
    let ids: Vec<i64> = {
        let mut v: Vec<i64> = cohort::referenced_concepts(def)
            .into_iter()
            .map(|r| r.concept_id)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut out = Lookups::default();
    if !ids.is_empty() {
        let q = ConceptQuery {
            ids,
            limit: wb_domain::analysis::MAX_CONCEPT_RESULTS,
            ..ConceptQuery::default()
        };
        if let Ok(hits) = crate::cohorts::concepts(state, &o.ws, q).await {
            out.names = hits.into_iter().map(|h| (h.concept_id, h)).collect();
        }
    }
    let all = cohort_edit_criteria(def);
    if all
        .iter()
        .any(|k| matches!(k, CriterionKind::Domain { .. }))
    {
        out.visits = list_of(state, o, "Visit", None).await;
    }
    if all.iter().any(|k| {
        matches!(
            k,
            CriterionKind::PhysicalMeasurement { .. }
                | CriterionKind::Domain {
                    domain: Domain::Measurement,
                    ..
                }
        )
    }) {
        out.values = list_of(state, o, "Meas Value", None).await;
    }
    out
}

fn cohort_edit_criteria(def: &CohortDefinition) -> Vec<&CriterionKind> {
    cohort::located_criteria(def)
        .into_iter()
        .map(|(_, c)| &c.kind)
        .collect()
}

/// Every concept of a domain (of a class), or nothing when the dataset cannot answer.
async fn list_of(
    state: &AppState,
    o: &Opened,
    domain: &str,
    class: Option<&str>,
) -> Vec<ConceptHit> {
    let q = ConceptQuery {
        domain: Some(domain.into()),
        class: class.map(Into::into),
        limit: wb_domain::analysis::MAX_CONCEPT_RESULTS,
        ..ConceptQuery::default()
    };
    crate::cohorts::concepts(state, &o.ws, q)
        .await
        .unwrap_or_default()
}

async fn builder_page(
    state: &AppState,
    s: &Session,
    l: &Loaded,
    refused: Option<Refused>,
    save_form: Option<(String, String, Option<String>)>,
    notice: Option<String>,
) -> WebResult<BuilderPage> {
    let def = &l.def;
    let is_empty = def.include.is_empty() && def.exclude.is_empty();
    let (answer, unavailable) = if is_empty {
        (None, None)
    } else {
        match crate::cohorts::count(state, &l.o.ws, def.clone()).await {
            Ok((_, a)) => (Some(a), None),
            Err(e @ (WebError::Unavailable(_) | WebError::Cdr(_))) => (None, Some(e.to_string())),
            Err(e) => return Err(e),
        }
    };
    let lookups = if unavailable.is_some() {
        Lookups::default()
    } else {
        lookups(state, &l.o, def).await
    };
    let (counts, errors, persons) = match &answer {
        Some(CountAnswer::Counts(c)) => (Some(c.displayed()), Vec::new(), Some(c.persons)),
        Some(CountAnswer::Invalid(e)) => (None, e.clone(), None),
        None => (None, Vec::new(), None),
    };
    let cx = Context {
        lookups: &lookups,
        counts: counts.as_ref(),
        errors: &errors,
        refused: refused.as_ref(),
    };
    let include = group_views(&def.include, &cx);
    let exclude = group_views(&def.exclude, &cx);
    let top_errors = errors
        .iter()
        .filter(|e| e.location.group_id.is_none())
        .map(|e| e.message.clone())
        .collect();
    let label_of = |id: &str| {
        include
            .iter()
            .map(|g| (g, "Include"))
            .chain(exclude.iter().map(|g| (g, "Exclude")))
            .find(|(g, _)| g.id == id)
            .map_or_else(|| id.to_owned(), |(g, s)| format!("{s} {}", g.title))
    };
    let attrition = counts
        .as_ref()
        .map(|c| {
            c.attrition
                .iter()
                .map(|a| (label_of(&a.id), a.shown.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let panels = counts
        .as_ref()
        .map(|c| {
            vec![
                panel("Sex assigned at birth", &c.chart.sex_at_birth),
                panel("Age", &c.chart.age),
                panel("Race", &c.chart.race),
                panel("Ethnicity", &c.chart.ethnicity),
            ]
        })
        .unwrap_or_default();
    let saved = match &l.saved {
        Some(c) => {
            let current = crate::cohorts::current_count(state, &l.o.ws, c).await;
            Some(SavedInfo {
                id: c.id,
                name: c.name.clone(),
                description: c.description.clone(),
                revision: c.revision,
                updated: Stamp::datetime(c.updated_at),
                count: current.map(|(n, _)| Shown::of(n).to_string()),
                recounted: current.is_some_and(|(_, again)| again) && c.count_total.is_some(),
            })
        }
        None => None,
    };
    let (name, description, save_error) = save_form.unwrap_or_else(|| {
        (
            saved.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
            saved
                .as_ref()
                .map(|c| c.description.clone())
                .unwrap_or_default(),
            None,
        )
    });
    let title = saved
        .as_ref()
        .map_or_else(|| "New cohort".to_owned(), |c| c.name.clone());
    Ok(BuilderPage {
        layout: Layout::new(&title, &s.ctx, Some(s)),
        ns: l.o.ws.namespace.clone(),
        ws_name: l.o.ws.name.clone(),
        key: l.key.path(),
        editable: l.editable,
        unsaved: l.draft_at.is_some(),
        draft_at: l.draft_at.map(Stamp::datetime),
        unreadable: l.unreadable.clone(),
        saved,
        sections: vec![
            SectionView {
                code: "include",
                title: "Include Participants",
                groups: include,
            },
            SectionView {
                code: "exclude",
                title: "Exclude Participants",
                groups: exclude,
            },
        ],
        top_errors,
        total: counts.as_ref().and_then(|c| c.total.map(|t| t.to_string())),
        persons: persons.map(|p| Shown::of(p).to_string()),
        attrition,
        panels,
        unavailable,
        notice,
        name,
        description,
        save_error,
        menu: &MENU,
        is_empty,
    })
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.get("hx-request").is_some_and(|v| v == "true")
}

fn builder_url(ns: &str, key: Key) -> String {
    format!("/workspaces/{ns}/cohorts/{}", key.path())
}

/// `GET /workspaces/{ns}/cohorts/new` and `/workspaces/{ns}/cohorts/{id}`: the builder, with
/// the caller's draft restored.
pub async fn builder(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((ns, key)): Path<(String, String)>,
    Query(q): Query<BuilderQuery>,
) -> WebResult<Response> {
    let l = load(&state, &s, &ns, &key, false).await?;
    let notice = q.saved.map(|_| "Cohort saved.".to_owned()).or_else(|| {
        l.draft_at.map(|_| {
            "Your unsaved changes are restored: they are kept on the server as you edit.".into()
        })
    });
    ok(&builder_page(&state, &s, &l, None, None, notice).await?)
}

#[derive(Debug, Deserialize)]
pub struct BuilderQuery {
    saved: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Edits
// ---------------------------------------------------------------------------------------------

/// Every field an edit may carry (each edit reads its own).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EditForm {
    op: String,
    section: String,
    group: String,
    list: String,
    criterion: String,
    #[serde(rename = "type")]
    kind: String,
    concept_id: String,
    module: String,
    question: String,
    answer: String,
    basis: String,
    min: String,
    max: String,
    concept_ids: Vec<String>,
    mention: String,
    temporal: String,
    days: String,
    suppressed: String,
    descendants: String,
    age_min: String,
    age_max: String,
    occurrences: String,
    date_op: String,
    date_start: String,
    date_end: String,
    visit_types: Vec<String>,
    value_op: String,
    value: String,
    value_min: String,
    value_max: String,
    value_concepts: Vec<String>,
}

impl EditForm {
    fn fields(&self) -> Fields {
        Fields {
            basis: self.basis.clone(),
            min: self.min.clone(),
            max: self.max.clone(),
            age_min: self.age_min.clone(),
            age_max: self.age_max.clone(),
            occurrences: self.occurrences.clone(),
            date_op: self.date_op.clone(),
            date_start: self.date_start.clone(),
            date_end: self.date_end.clone(),
            visit_types: self.visit_types.clone(),
            value_op: self.value_op.clone(),
            value: self.value.clone(),
            value_min: self.value_min.clone(),
            value_max: self.value_max.clone(),
            value_concepts: self.value_concepts.clone(),
        }
    }
}

fn parse_u32(v: &str, what: &str) -> Result<Option<u32>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| format!("{what}: \"{v}\" is not a whole number from 0 up."))
}

fn parse_f64(v: &str, what: &str) -> Result<f64, String> {
    let v = v.trim();
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ if v.is_empty() => Err(format!("{what}: enter a number.")),
        _ => Err(format!("{what}: \"{v}\" is not a number.")),
    }
}

fn parse_date(v: &str, what: &str) -> Result<chrono::NaiveDate, String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(format!("{what}: enter a date."));
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_err(|_| format!("{what}: \"{v}\" is not a date (YYYY-MM-DD)."))
}

fn parse_ids(v: &[String], what: &str) -> Result<Vec<i64>, String> {
    v.iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| format!("{what}: \"{s}\" is not a concept id."))
        })
        .collect()
}

fn parse_id(v: &str, what: &str) -> Result<i64, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("Choose {what} from the list."))
}

fn basis_of(code: &str) -> Result<AgeBasis, String> {
    AgeBasis::ALL
        .into_iter()
        .find(|b| basis_code(*b) == code)
        .ok_or_else(|| "Choose Current Age, Age at Consent or Age at CDR Date.".to_owned())
}

/// The criterion an "Add Criteria" form describes.
fn kind_of(f: &EditForm) -> Result<CriterionKind, String> {
    let ids = || {
        let ids = parse_ids(&f.concept_ids, "Selection")?;
        if ids.is_empty() {
            return Err("Select at least one.".to_owned());
        }
        Ok(ids)
    };
    Ok(match f.kind.as_str() {
        "age" => {
            let min = parse_u32(&f.min, "Minimum age")?.unwrap_or(0);
            let max = parse_u32(&f.max, "Maximum age")?.unwrap_or(cohort::MAX_AGE);
            CriterionKind::Age {
                basis: basis_of(&f.basis)?,
                min,
                max,
            }
        }
        "deceased" => CriterionKind::Deceased {},
        "ehr" => CriterionKind::HasEhrData {},
        "ethnicity" => CriterionKind::Ethnicity {
            concept_ids: ids()?,
        },
        "gender" => CriterionKind::GenderIdentity {
            concept_ids: ids()?,
        },
        "race" => CriterionKind::Race {
            concept_ids: ids()?,
        },
        "sex" => CriterionKind::SexAtBirth {
            concept_ids: ids()?,
        },
        "survey" => CriterionKind::Survey {
            module_concept_id: parse_id(&f.module, "a survey")?,
            question_concept_id: (!f.question.trim().is_empty())
                .then(|| parse_id(&f.question, "a question"))
                .transpose()?,
            answer_concept_id: (!f.answer.trim().is_empty())
                .then(|| parse_id(&f.answer, "an answer"))
                .transpose()?,
        },
        "pm" => CriterionKind::PhysicalMeasurement {
            concept_id: parse_id(&f.concept_id, "a measurement")?,
            value: None,
        },
        other => match criteria_type(other).and_then(|t| t.domain) {
            Some(domain) => CriterionKind::Domain {
                domain,
                concept_id: parse_id(&f.concept_id, "a concept")?,
                include_descendants: true,
                value: None,
            },
            None => return Err(format!("\"{other}\" is not a criteria type.")),
        },
    })
}

fn modifiers_of(f: &EditForm) -> Result<Modifiers, String> {
    let age_min = parse_u32(&f.age_min, "Age At Event, from")?;
    let age_max = parse_u32(&f.age_max, "Age At Event, to")?;
    let event_date = match f.date_op.as_str() {
        "" => None,
        "ON_OR_BEFORE" => Some(DateFilter::OnOrBefore {
            date: parse_date(&f.date_start, "Event Date")?,
        }),
        "ON_OR_AFTER" => Some(DateFilter::OnOrAfter {
            date: parse_date(&f.date_start, "Event Date")?,
        }),
        "BETWEEN" => Some(DateFilter::Between {
            start: parse_date(&f.date_start, "Event Date, from")?,
            end: parse_date(&f.date_end, "Event Date, to")?,
        }),
        other => return Err(format!("\"{other}\" is not an Event Date choice.")),
    };
    let visits = parse_ids(&f.visit_types, "During Visit Type")?;
    Ok(Modifiers {
        age_at_event: (age_min.is_some() || age_max.is_some()).then_some(AgeRange {
            min: age_min,
            max: age_max,
        }),
        occurrences_at_least: parse_u32(&f.occurrences, "Number Of Occurrence Dates")?,
        event_date,
        during_visit_type: (!visits.is_empty()).then_some(visits),
    })
}

fn value_of(f: &EditForm) -> Result<Option<ValueFilter>, String> {
    let one = || parse_f64(&f.value, "Value");
    Ok(Some(match f.value_op.as_str() {
        "" | "ANY" => return Ok(None),
        "EQUAL" => ValueFilter::Equal { value: one()? },
        "NOT_EQUAL" => ValueFilter::NotEqual { value: one()? },
        "LESS_THAN" => ValueFilter::LessThan { value: one()? },
        "GREATER_THAN" => ValueFilter::GreaterThan { value: one()? },
        "LESS_THAN_OR_EQUAL_TO" => ValueFilter::LessThanOrEqualTo { value: one()? },
        "GREATER_THAN_OR_EQUAL_TO" => ValueFilter::GreaterThanOrEqualTo { value: one()? },
        "BETWEEN" => ValueFilter::Between {
            min: parse_f64(&f.value_min, "Value, from")?,
            max: parse_f64(&f.value_max, "Value, to")?,
        },
        "IN" => ValueFilter::In {
            value_concept_ids: {
                let ids = parse_ids(&f.value_concepts, "Values")?;
                if ids.is_empty() {
                    return Err("Values: tick at least one value.".into());
                }
                ids
            },
        },
        other => return Err(format!("\"{other}\" is not a value comparison.")),
    }))
}

fn temporal_of(f: &EditForm) -> Result<Option<TemporalKind>, String> {
    let days = || -> Result<i64, String> {
        let v = f.days.trim();
        v.parse().map_err(|_| {
            if v.is_empty() {
                "Enter the number of days (X).".to_owned()
            } else {
                format!("Days: \"{v}\" is not a whole number.")
            }
        })
    };
    Ok(match f.temporal.as_str() {
        "" => None,
        "DURING_SAME_ENCOUNTER_AS" => Some(TemporalKind::DuringSameEncounter {}),
        "X_DAYS_BEFORE" => Some(TemporalKind::XOrMoreDaysBefore { days: days()? }),
        "X_DAYS_AFTER" => Some(TemporalKind::XOrMoreDaysAfter { days: days()? }),
        "WITHIN_X_DAYS_OF" => Some(TemporalKind::WithinXDays { days: days()? }),
        other => return Err(format!("\"{other}\" is not a temporal relation.")),
    })
}

fn section_of(s: &str) -> Section {
    if s == "exclude" {
        Section::Exclude
    } else {
        Section::Include
    }
}

/// The edit a form asks for, or what is wrong with it (at the criterion or group).
fn edit_of(f: &EditForm) -> Result<Edit, (String, String)> {
    let at_c = |m: String| (f.criterion.clone(), m);
    let at_g = |m: String| (f.group.clone(), m);
    let id = f.criterion.clone();
    Ok(match f.op.as_str() {
        "add" => Edit::AddCriterion {
            section: section_of(&f.section),
            group: (!f.group.is_empty()).then(|| f.group.clone()),
            second: f.list == "second",
            kind: kind_of(f).map_err(at_g)?,
        },
        "remove" => Edit::RemoveCriterion { id },
        "age" => Edit::ReplaceKind {
            kind: CriterionKind::Age {
                basis: basis_of(&f.basis).map_err(at_c)?,
                min: parse_u32(&f.min, "Minimum age").map_err(at_c)?.unwrap_or(0),
                max: parse_u32(&f.max, "Maximum age")
                    .map_err(at_c)?
                    .unwrap_or(cohort::MAX_AGE),
            },
            id,
        },
        "modifiers" => Edit::SetModifiers {
            modifiers: modifiers_of(f).map_err(at_c)?,
            id,
        },
        "value" => Edit::SetValue {
            value: value_of(f).map_err(at_c)?,
            id,
        },
        "descendants" => Edit::SetDescendants {
            on: f.descendants == "on",
            id,
        },
        "group" => Edit::SetGroup {
            id: f.group.clone(),
            mention: Mention::ALL
                .into_iter()
                .find(|m| mention_code(*m) == f.mention)
                .unwrap_or_default(),
            temporal: temporal_of(f).map_err(at_g)?,
            suppressed: f.suppressed == "on",
        },
        "remove_group" => Edit::RemoveGroup {
            id: f.group.clone(),
        },
        other => {
            return Err((
                String::new(),
                format!("\"{other}\" is not a builder action."),
            ));
        }
    })
}

/// `POST /workspaces/{ns}/cohorts/{key}/edit`: one edit of the caller's draft, kept on the
/// server; the answer is the builder counted again.
pub async fn edit(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((ns, key)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<EditForm>,
) -> WebResult<Response> {
    let mut l = load(&state, &s, &ns, &key, true).await?;
    let htmx = is_htmx(&headers);
    let edit = match edit_of(&form) {
        Ok(e) => e,
        Err((at, message)) => {
            let r = Refused {
                at,
                message,
                fields: form.fields(),
                days: form.days.clone(),
                temporal: (form.op == "group").then(|| form.temporal.clone()),
            };
            return refused(&state, &s, &l, &form, r, htmx).await;
        }
    };
    // Read, changed and written under the caller's draft lock: parallel edits all apply.
    let saved_def = l
        .saved
        .as_ref()
        .and_then(|c| serde_json::from_str::<CohortDefinition>(&c.definition).ok());
    let applied = state
        .store
        .edit_cohort_draft(l.o.ws.id, s.user.id, l.key.id(), state.now(), |text| {
            let mut def = text
                .and_then(|t| serde_json::from_str::<CohortDefinition>(&t).ok())
                .or_else(|| saved_def.clone())
                .unwrap_or_default();
            match cohort_edit::apply(&mut def, edit) {
                Err(e) => (DraftWrite::Nothing, Err(e)),
                Ok(_) if saved_def.as_ref() == Some(&def) => {
                    (DraftWrite::Discard, Ok((def, false)))
                }
                Ok(_) => {
                    let text = serde_json::to_string(&def).expect("a definition serialises");
                    (DraftWrite::Save(text), Ok((def, true)))
                }
            }
        })
        .await?;
    match applied {
        Err(e) => {
            let r = Refused {
                at: String::new(),
                message: e.to_string(),
                fields: Fields::default(),
                days: String::new(),
                temporal: None,
            };
            refused(&state, &s, &l, &form, r, htmx).await
        }
        Ok((def, unsaved)) => {
            l.def = def;
            l.draft_at = unsaved.then(|| state.now());
            l.unreadable = None;
            if htmx {
                ok(&builder_page(&state, &s, &l, None, None, None).await?)
            } else {
                Ok(Redirect::to(&builder_url(&ns, l.key)).into_response())
            }
        }
    }
}

/// An edit that could not be applied: the builder (or the "Add Criteria" page the form came
/// from) with the problem where it was typed and the fields as typed.
async fn refused(
    state: &AppState,
    s: &Session,
    l: &Loaded,
    form: &EditForm,
    r: Refused,
    htmx: bool,
) -> WebResult<Response> {
    if form.op == "add" && (r.at.is_empty() || r.at == form.group) {
        return criteria_answer(state, s, l, form, Some(r.message)).await;
    }
    let notice = r.at.is_empty().then(|| r.message.clone());
    let p = builder_page(state, s, l, Some(r), None, notice).await?;
    let status = if htmx {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    page(status, &p)
}

/// `POST /workspaces/{ns}/cohorts/{key}/discard`: "Discard changes".
pub async fn discard(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((ns, key)): Path<(String, String)>,
) -> WebResult<Response> {
    let l = load(&state, &s, &ns, &key, true).await?;
    state
        .store
        .discard_cohort_draft(l.o.ws.id, s.user.id, l.key.id())
        .await?;
    let to = match l.key {
        Key::New => format!("/workspaces/{ns}?show=cohorts"),
        Key::Saved(_) => builder_url(&ns, l.key),
    };
    Ok(Redirect::to(&to).into_response())
}

// ---------------------------------------------------------------------------------------------
// Saving, duplicating, deleting
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SaveForm {
    name: String,
    description: String,
    /// `save` ("Save Cohort") or `save_as` ("Save Cohort as").
    mode: String,
    revision: String,
}

/// `POST /workspaces/{ns}/cohorts/{key}/save`: "Save Cohort" (a new cohort, or the saved one
/// over the revision edited, its name and description as typed: a rename) and "Save Cohort
/// as" (a new cohort from what the builder shows).
pub async fn save(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((ns, key)): Path<(String, String)>,
    Form(form): Form<SaveForm>,
) -> WebResult<Response> {
    let l = load(&state, &s, &ns, &key, true).await?;
    let target = match (l.key, form.mode.as_str()) {
        (Key::Saved(id), "save") => SaveTarget::Existing {
            id,
            revision: form.revision.trim().parse().unwrap_or(-1),
        },
        _ => SaveTarget::New,
    };
    match crate::cohorts::save_cohort(
        &state,
        &s.user,
        &l.o.ws,
        target,
        &form.name,
        &form.description,
        &l.def,
    )
    .await
    {
        Ok(c) => {
            if matches!(target, SaveTarget::New) && l.key != Key::New {
                // "Save Cohort as" from a saved cohort: the edits went to the new one.
                state
                    .store
                    .discard_cohort_draft(l.o.ws.id, s.user.id, l.key.id())
                    .await?;
            }
            Ok(Redirect::to(&format!("/workspaces/{ns}/cohorts/{}?saved=1", c.id)).into_response())
        }
        Err(SaveError::Web(e)) => Err(e),
        Err(SaveError::NotFound) => Err(WebError::NotFound),
        Err(e) => {
            let message = e.message();
            let p = builder_page(
                &state,
                &s,
                &l,
                None,
                Some((form.name, form.description, Some(message))),
                None,
            )
            .await?;
            let status = match e {
                SaveError::NameTaken(_) | SaveError::Stale { .. } => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            page(status, &p)
        }
    }
}

/// `POST /workspaces/{ns}/cohorts/{id}/duplicate`.
pub async fn duplicate(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((ns, key)): Path<(String, String)>,
) -> WebResult<Response> {
    let l = load(&state, &s, &ns, &key, true).await?;
    let c = l.saved.as_ref().ok_or(WebError::NotFound)?;
    match crate::cohorts::duplicate_cohort(&state, &s.user, &l.o.ws, c).await {
        Ok(copy) => Ok(
            Redirect::to(&format!("/workspaces/{ns}/cohorts/{}?saved=1", copy.id)).into_response(),
        ),
        Err(SaveError::Web(e)) => Err(e),
        Err(e) => Err(WebError::BadRequest(e.message())),
    }
}

#[derive(Template)]
#[template(path = "cohort_delete.html")]
struct DeletePage {
    layout: Layout,
    ns: String,
    id: i64,
    name: String,
}

/// `GET /workspaces/{ns}/cohorts/{id}/delete`: asks first.
pub async fn delete_form(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((ns, key)): Path<(String, String)>,
) -> WebResult<Response> {
    let l = load(&state, &s, &ns, &key, true).await?;
    let c = l.saved.ok_or(WebError::NotFound)?;
    ok(&DeletePage {
        layout: Layout::new(&format!("Delete {}", c.name), &s.ctx, Some(&s)),
        ns,
        id: c.id,
        name: c.name,
    })
}

/// `POST /workspaces/{ns}/cohorts/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((ns, key)): Path<(String, String)>,
) -> WebResult<Response> {
    let l = load(&state, &s, &ns, &key, true).await?;
    let c = l.saved.ok_or(WebError::NotFound)?;
    let actor = format!("user:{}", s.user.username);
    if !state
        .store
        .delete_cohort(l.o.ws.id, c.id, s.user.id, &actor, state.now())
        .await?
    {
        return Err(WebError::NotFound);
    }
    Ok(Redirect::to(&format!("/workspaces/{ns}?show=cohorts&deleted=1")).into_response())
}

#[derive(Template)]
#[template(path = "cohort_sql.html")]
struct SqlPage {
    layout: Layout,
    ns: String,
    key: String,
    title: String,
    sql: Option<String>,
    problem: Option<String>,
}

/// `GET /workspaces/{ns}/cohorts/{key}/sql`: "View SQL" of what the builder shows.
pub async fn sql(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((ns, key)): Path<(String, String)>,
) -> WebResult<Response> {
    let l = load(&state, &s, &ns, &key, false).await?;
    let title = l
        .saved
        .as_ref()
        .map_or_else(|| "New cohort".to_owned(), |c| c.name.clone());
    let (sql, problem) = match cohort::validate(&l.def) {
        Err(errors) => (
            None,
            Some(format!(
                "The definition has problems to fix first: {}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        ),
        Ok(()) => match crate::cohorts::sql(&state, &l.o.ws, l.def.clone()).await {
            Ok(sql) => (Some(sql), None),
            Err(e @ (WebError::Unavailable(_) | WebError::Cdr(_))) => (None, Some(e.to_string())),
            Err(e) => return Err(e),
        },
    };
    ok(&SqlPage {
        layout: Layout::new(&format!("SQL of {title}"), &s.ctx, Some(&s)),
        ns,
        key: l.key.path(),
        title,
        sql,
        problem,
    })
}

// ---------------------------------------------------------------------------------------------
// "Add Criteria"
// ---------------------------------------------------------------------------------------------

/// One entry of the criteria menu and how its page finds concepts.
#[derive(Debug, Clone, Copy)]
struct CriteriaType {
    code: &'static str,
    label: &'static str,
    domain: Option<Domain>,
}

fn criteria_type(code: &str) -> Option<CriteriaType> {
    let domain = match code {
        "condition" => Some(Domain::Condition),
        "procedure" => Some(Domain::Procedure),
        "drug" => Some(Domain::Drug),
        "measurement" => Some(Domain::Measurement),
        "visit" => Some(Domain::Visit),
        "observation" => Some(Domain::Observation),
        "device" => Some(Domain::Device),
        _ => None,
    };
    MENU.iter()
        .flat_map(|(_, _, items)| items.iter())
        .find(|(c, _)| *c == code)
        .map(|(c, label)| CriteriaType {
            code: c,
            label,
            domain,
        })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CriteriaQuery {
    #[serde(rename = "type")]
    kind: String,
    section: String,
    group: String,
    list: String,
    q: String,
    parent: Option<i64>,
    module: Option<i64>,
    question: Option<i64>,
}

struct HitView {
    id: i64,
    name: String,
    code: String,
    vocabulary: String,
    count: String,
    browse: bool,
}

#[derive(Template)]
#[template(path = "cohort_criteria.html")]
struct CriteriaPage {
    layout: Layout,
    ns: String,
    key: String,
    label: &'static str,
    kind: &'static str,
    section: String,
    group: String,
    list: String,
    q: String,
    /// Search and browse (the domains, Physical Measurements, Surveys).
    searchable: bool,
    hits: Vec<HitView>,
    /// Where browsing is: `(label, link)` back up.
    up: Option<(String, String)>,
    heading: String,
    module: String,
    question: String,
    /// Checkbox lists (race, ethnicity, gender identity, sex at birth).
    options: Vec<HitView>,
    bases: Vec<Choice>,
    min: String,
    max: String,
    error: Option<String>,
    unavailable: Option<String>,
    back: String,
}

fn hit_views(hits: Vec<ConceptHit>) -> Vec<HitView> {
    hits.into_iter()
        .map(|h| HitView {
            id: h.concept_id,
            count: Shown::of(h.persons).to_string(),
            browse: h.has_children,
            name: h.name,
            code: h.code,
            vocabulary: h.vocabulary,
        })
        .collect()
}

/// The sex-at-birth question of the dataset, found by its code.
async fn sex_question(state: &AppState, o: &Opened) -> WebResult<Option<i64>> {
    let q = ConceptQuery {
        text: wb_domain::analysis::SEX_AT_BIRTH_QUESTION_CODE.into(),
        domain: Some("Observation".into()),
        class: Some("Question".into()),
        limit: 10,
        ..ConceptQuery::default()
    };
    Ok(crate::cohorts::concepts(state, &o.ws, q)
        .await?
        .into_iter()
        .find(|h| h.code == wb_domain::analysis::SEX_AT_BIRTH_QUESTION_CODE)
        .map(|h| h.concept_id))
}

async fn criteria_page(
    state: &AppState,
    s: &Session,
    l: &Loaded,
    q: &CriteriaQuery,
    typed: Option<(&EditForm, String)>,
) -> WebResult<CriteriaPage> {
    let t = criteria_type(&q.kind).ok_or(WebError::NotFound)?;
    let o = &l.o;
    let base = format!(
        "/workspaces/{}/cohorts/{}/criteria?type={}&section={}&group={}&list={}",
        o.ws.namespace,
        l.key.path(),
        t.code,
        q.section,
        q.group,
        q.list
    );
    let mut p = CriteriaPage {
        layout: Layout::new(&format!("Add Criteria: {}", t.label), &s.ctx, Some(s)),
        ns: o.ws.namespace.clone(),
        key: l.key.path(),
        label: t.label,
        kind: t.code,
        section: q.section.clone(),
        group: q.group.clone(),
        list: q.list.clone(),
        q: q.q.clone(),
        searchable: false,
        hits: Vec::new(),
        up: None,
        heading: String::new(),
        module: q.module.map(|v| v.to_string()).unwrap_or_default(),
        question: q.question.map(|v| v.to_string()).unwrap_or_default(),
        options: Vec::new(),
        bases: AgeBasis::ALL
            .iter()
            .map(|b| Choice {
                value: basis_code(*b).into(),
                label: b.label().into(),
                selected: *b == AgeBasis::Current,
            })
            .collect(),
        min: "18".into(),
        max: "120".into(),
        error: None,
        unavailable: None,
        back: builder_url(&o.ws.namespace, l.key),
    };
    if let Some((f, message)) = typed {
        p.error = Some(message);
        if t.code == "age" {
            p.min = f.min.clone();
            p.max = f.max.clone();
            for b in &mut p.bases {
                b.selected = b.value == f.basis;
            }
        }
    }
    let found: WebResult<()> = async {
        match t.code {
            "age" | "deceased" | "ehr" => {}
            "ethnicity" | "gender" | "race" => {
                let domain = match t.code {
                    "ethnicity" => "Ethnicity",
                    "gender" => "Gender",
                    _ => "Race",
                };
                p.options = hit_views(list_of(state, o, domain, None).await);
            }
            "sex" => {
                if let Some(qid) = sex_question(state, o).await? {
                    let hits = crate::cohorts::concepts(
                        state,
                        &o.ws,
                        ConceptQuery {
                            parent: Some(qid),
                            limit: 50,
                            ..ConceptQuery::default()
                        },
                    )
                    .await?;
                    p.options = hit_views(hits);
                }
            }
            "survey" => {
                p.searchable = false;
                let (parent, heading) = match (q.module, q.question) {
                    (Some(_), Some(qid)) => (Some(qid), "Answers".to_owned()),
                    (Some(m), None) => (Some(m), "Questions".to_owned()),
                    _ => (None, "Surveys".to_owned()),
                };
                p.heading = heading;
                let hits = match parent {
                    Some(id) => {
                        crate::cohorts::concepts(
                            state,
                            &o.ws,
                            ConceptQuery {
                                parent: Some(id),
                                limit: wb_domain::analysis::MAX_CONCEPT_RESULTS,
                                ..ConceptQuery::default()
                            },
                        )
                        .await?
                    }
                    None => list_of(state, o, "Observation", Some("Module")).await,
                };
                p.hits = hit_views(hits);
                p.up = match (q.module, q.question) {
                    (Some(m), Some(_)) => {
                        Some(("Back to the questions".into(), format!("{base}&module={m}")))
                    }
                    (Some(_), None) => Some(("Back to the surveys".into(), base.clone())),
                    _ => None,
                };
            }
            "pm" => {
                p.searchable = true;
                let hits = if q.q.trim().is_empty() {
                    list_of(state, o, "Measurement", Some("Clinical Observation")).await
                } else {
                    crate::cohorts::concepts(
                        state,
                        &o.ws,
                        ConceptQuery {
                            text: q.q.clone(),
                            domain: Some("Measurement".into()),
                            class: Some("Clinical Observation".into()),
                            limit: 50,
                            ..ConceptQuery::default()
                        },
                    )
                    .await?
                };
                p.heading = "Physical Measurements".into();
                p.hits = hit_views(hits);
            }
            _ => {
                let domain = t.domain.ok_or(WebError::NotFound)?;
                p.searchable = true;
                let text = q.q.trim();
                let hits = crate::cohorts::concepts(
                    state,
                    &o.ws,
                    ConceptQuery {
                        text: text.into(),
                        parent: if text.is_empty() { q.parent } else { None },
                        domain: Some(domain.omop_id().into()),
                        limit: 50,
                        ..ConceptQuery::default()
                    },
                )
                .await?;
                p.heading = if !text.is_empty() {
                    format!("Results for \"{text}\", most participants first")
                } else if let Some(parent) = q.parent {
                    let named = crate::cohorts::concepts(
                        state,
                        &o.ws,
                        ConceptQuery {
                            ids: vec![parent],
                            limit: 1,
                            ..ConceptQuery::default()
                        },
                    )
                    .await?;
                    p.up = Some(("Back to the top of the hierarchy".into(), base.clone()));
                    format!(
                        "Under {}",
                        named
                            .first()
                            .map_or_else(|| parent.to_string(), |h| h.name.clone())
                    )
                } else {
                    "Browse the hierarchy".into()
                };
                p.hits = hit_views(hits);
            }
        }
        Ok(())
    }
    .await;
    match found {
        Ok(()) => {}
        Err(e @ (WebError::Unavailable(_) | WebError::Cdr(_))) => {
            p.unavailable = Some(e.to_string())
        }
        Err(e) => return Err(e),
    }
    Ok(p)
}

/// `GET /workspaces/{ns}/cohorts/{key}/criteria`: "Add Criteria" for one menu entry: concept
/// search and browsing with participant counts, or the demographic choices.
pub async fn criteria(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((ns, key)): Path<(String, String)>,
    Query(q): Query<CriteriaQuery>,
) -> WebResult<Response> {
    let l = load(&state, &s, &ns, &key, true).await?;
    ok(&criteria_page(&state, &s, &l, &q, None).await?)
}

/// A refused "Add Criteria" form, answered on its page with what was typed.
async fn criteria_answer(
    state: &AppState,
    s: &Session,
    l: &Loaded,
    f: &EditForm,
    message: Option<String>,
) -> WebResult<Response> {
    let q = CriteriaQuery {
        kind: f.kind.clone(),
        section: f.section.clone(),
        group: f.group.clone(),
        list: f.list.clone(),
        module: f.module.trim().parse().ok(),
        question: f.question.trim().parse().ok(),
        ..CriteriaQuery::default()
    };
    let message = message.unwrap_or_default();
    let p = criteria_page(state, s, l, &q, Some((f, message))).await?;
    page(StatusCode::UNPROCESSABLE_ENTITY, &p)
}

// ---------------------------------------------------------------------------------------------
// On DATA ANALYSIS
// ---------------------------------------------------------------------------------------------

/// A saved cohort as DATA ANALYSIS lists it.
pub struct CohortItem {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub count: String,
    pub updated: Stamp,
}

/// The workspace's cohorts for DATA ANALYSIS, and whether the caller has a new cohort's draft.
pub async fn items(
    state: &AppState,
    s: &Session,
    o: &Opened,
) -> WebResult<(Vec<CohortItem>, bool)> {
    let mut out = Vec::new();
    for c in state.store.cohorts(o.ws.id).await? {
        let count = match crate::cohorts::current_count(state, &o.ws, &c).await {
            Some((n, _)) => Shown::of(n).to_string(),
            None => "—".into(),
        };
        out.push(CohortItem {
            id: c.id,
            name: c.name,
            description: c.description,
            count,
            updated: Stamp::datetime(c.updated_at),
        });
    }
    let draft = workspace::allows(o.role, WorkspaceAction::EditAnalysis)
        && state
            .store
            .cohort_draft(o.ws.id, s.user.id, None)
            .await?
            .is_some();
    Ok((out, draft))
}
