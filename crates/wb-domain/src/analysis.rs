//! What the web layer asks of a CDR, as a trait and plain data, so the web crate needs no query
//! engine: `wb_cdr` implements [`CdrService`] and the binary hands it to the server.
//!
//! Counts here are exact. Nothing in this module may leave the server as it is: every count
//! goes through [`crate::cohort::displayed_count`] (the dissemination rule) on its way out,
//! which [`Counts::displayed`] does for a whole answer.

use chrono::NaiveDate;
use serde::Serialize;

use crate::cohort::{CohortDefinition, CriterionError, DisplayedCount, displayed_count};

/// Why a CDR could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The dataset has no data directory yet, or its data is being prepared.
    #[error("this dataset's data is not available yet: {0}")]
    Unavailable(String),
    /// Reading the data failed.
    #[error("{0}")]
    Failed(String),
}

/// One group's or criterion's exact count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub id: String,
    pub count: u64,
}

/// One bar of a demographic chart: a label and its exact count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub label: String,
    pub count: u64,
}

/// The demographics of a set of persons.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chart {
    /// By the answer to the sex-at-birth question ("Not answered" for none).
    pub sex_at_birth: Vec<Bar>,
    /// By current age, in bands.
    pub age: Vec<Bar>,
    pub race: Vec<Bar>,
    pub ethnicity: Vec<Bar>,
}

/// The age bands of the chart: `(label, first age, last age)`.
pub const AGE_BANDS: [(&str, i32, i32); 8] = [
    ("Under 18", i32::MIN, 17),
    ("18–29", 18, 29),
    ("30–39", 30, 39),
    ("40–49", 40, 49),
    ("50–59", 50, 59),
    ("60–69", 60, 69),
    ("70–79", 70, 79),
    ("80 and over", 80, i32::MAX),
];

/// The exact counts of a definition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counts {
    pub total: u64,
    /// Each group on its own, include groups then exclude groups.
    pub groups: Vec<Count>,
    /// Each criterion on its own (temporal second lists included).
    pub criteria: Vec<Count>,
    /// The cohort after each group that counts towards the total, in order (include groups
    /// narrowing, then exclude groups removing); the last step is the total.
    pub attrition: Vec<Count>,
    /// The demographics of the cohort.
    pub chart: Chart,
    /// Persons in the CDR.
    pub persons: u64,
}

/// A count as it may be shown: the exact number, or "≤ 20".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shown {
    /// `null` when the count is from 1 to 20.
    pub count: Option<u64>,
    /// The text to show: "1,234" or "≤ 20".
    pub display: ShownText,
}

/// The displayed text of a [`Shown`] count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShownText(pub DisplayedCount);

impl Serialize for ShownText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl Shown {
    pub fn of(n: u64) -> Shown {
        let d = displayed_count(n);
        Shown {
            count: d.exact(),
            display: ShownText(d),
        }
    }

    pub fn is_suppressed(&self) -> bool {
        self.display.0.is_suppressed()
    }
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.display.0.fmt(f)
    }
}

/// One id's displayed count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShownCount {
    pub id: String,
    #[serde(flatten)]
    pub shown: Shown,
}

/// A chart bar as it may be shown (see [`merge_small_bars`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShownBar {
    pub label: String,
    #[serde(flatten)]
    pub shown: Shown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ShownChart {
    pub sex_at_birth: Vec<ShownBar>,
    pub age: Vec<ShownBar>,
    pub race: Vec<ShownBar>,
    pub ethnicity: Vec<ShownBar>,
}

/// [`Counts`] after the dissemination rule: the only form that leaves the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DisplayedCounts {
    pub total: Option<Shown>,
    pub groups: Vec<ShownCount>,
    pub criteria: Vec<ShownCount>,
    pub attrition: Vec<ShownCount>,
    pub chart: ShownChart,
}

impl Counts {
    /// Every count through the dissemination rule.
    pub fn displayed(&self) -> DisplayedCounts {
        let list = |v: &[Count]| {
            v.iter()
                .map(|c| ShownCount {
                    id: c.id.clone(),
                    shown: Shown::of(c.count),
                })
                .collect()
        };
        let bars = |v: &[Bar]| merge_small_bars(v);
        DisplayedCounts {
            total: Some(Shown::of(self.total)),
            groups: list(&self.groups),
            criteria: list(&self.criteria),
            attrition: list(&self.attrition),
            chart: ShownChart {
                sex_at_birth: bars(&self.chart.sex_at_birth),
                age: bars(&self.chart.age),
                race: bars(&self.chart.race),
                ethnicity: bars(&self.chart.ethnicity),
            },
        }
    }
}

/// A chart's bars as they may be shown. A bar from 1 to 20 would be given away by the others
/// and the total (a chart's bars add up to the cohort), so the bars from 1 to 20 are merged
/// into one, together with the smallest other bars until the merged bar is above 20 (or every
/// bar is in it): e.g. "Hispanic or Latino + Not answered". The merged bar comes last.
pub fn merge_small_bars(bars: &[Bar]) -> Vec<ShownBar> {
    let small = |b: &Bar| (1..=20).contains(&b.count);
    if !bars.iter().any(small) {
        return bars
            .iter()
            .map(|b| ShownBar {
                label: b.label.clone(),
                shown: Shown::of(b.count),
            })
            .collect();
    }
    let mut merged: Vec<usize> = (0..bars.len()).filter(|&i| small(&bars[i])).collect();
    let mut sum: u64 = merged.iter().map(|&i| bars[i].count).sum();
    let mut others: Vec<usize> = (0..bars.len()).filter(|&i| bars[i].count > 20).collect();
    others.sort_by_key(|&i| (bars[i].count, i));
    let mut others = others.into_iter();
    while sum <= 20 {
        let Some(i) = others.next() else { break };
        merged.push(i);
        sum += bars[i].count;
    }
    merged.sort_unstable();
    let mut out: Vec<ShownBar> = (0..bars.len())
        .filter(|i| !merged.contains(i))
        .map(|i| ShownBar {
            label: bars[i].label.clone(),
            shown: Shown::of(bars[i].count),
        })
        .collect();
    out.push(ShownBar {
        label: merged
            .iter()
            .map(|&i| bars[i].label.as_str())
            .collect::<Vec<_>>()
            .join(" + "),
        shown: Shown::of(sum),
    });
    out
}

/// The answer to a count request: counts, or what is wrong with the definition (at the
/// offending criterion, in [`crate::cohort::validate`]'s format).
#[derive(Debug, Clone, PartialEq)]
pub enum CountAnswer {
    Counts(Counts),
    Invalid(Vec<CriterionError>),
}

/// A concept as search and browsing show it, with its exact participant counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConceptHit {
    pub concept_id: i64,
    pub name: String,
    pub code: String,
    pub domain: String,
    pub vocabulary: String,
    pub class: String,
    pub standard: bool,
    /// Participants with this concept or a descendant.
    pub persons: u64,
    /// Participants with exactly this concept.
    pub own_persons: u64,
    pub has_children: bool,
}

/// What to look for, in this order: the concepts `ids` (to name a definition's concepts); search
/// text (code, name or synonym; every word); with `parent`, the children of a concept; with
/// none of them, every concept of `class` in `domain`, or without a class the roots of
/// `domain` (where its hierarchy starts). Results are ranked by participants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConceptQuery {
    pub text: String,
    pub parent: Option<i64>,
    /// An OMOP `domain_id` ("Condition", "Measurement" …).
    pub domain: Option<String>,
    /// An OMOP `concept_class_id` ("Race", "Module", "Clinical Observation" …).
    pub class: Option<String>,
    pub ids: Vec<i64>,
    pub limit: usize,
}

/// The survey question whose answers are "Sex Assigned at Birth" (its PPI code).
pub const SEX_AT_BIRTH_QUESTION_CODE: &str = "BiologicalSexAtBirth_SexAtBirth";

/// The most concepts one search answers.
pub const MAX_CONCEPT_RESULTS: usize = 200;

/// A CDR, as the server uses it. `data_dir` is the dataset version's data directory.
/// Calls block (they read files): the web layer runs them on the blocking pool.
pub trait CdrService: Send + Sync + 'static {
    /// Validates the definition, checks its concepts against the CDR, and counts it, "Current
    /// Age" taken at `today`.
    fn count(
        &self,
        data_dir: &str,
        def: &CohortDefinition,
        today: NaiveDate,
    ) -> Result<CountAnswer, ServiceError>;

    /// Concept search and browsing, ranked by participants (exact code matches first).
    fn concepts(&self, data_dir: &str, q: &ConceptQuery) -> Result<Vec<ConceptHit>, ServiceError>;

    /// The SQL the definition's total compiles to ("View SQL"); the definition must pass
    /// [`crate::cohort::validate`] (the caller checks).
    fn sql(
        &self,
        data_dir: &str,
        def: &CohortDefinition,
        today: NaiveDate,
    ) -> Result<String, ServiceError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bars_are_merged_until_no_bar_gives_one_away() {
        let bar = |label: &str, count| Bar {
            label: label.into(),
            count,
        };
        // 27 + 5 = 32: the 5 would be the total minus 27, so both go into one bar.
        let shown = merge_small_bars(&[bar("Not Hispanic", 27), bar("Hispanic", 5)]);
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].label, "Not Hispanic + Hispanic");
        assert_eq!(shown[0].shown.count, Some(32));
        // Small bars together above 20 need no other; zeros and big bars stay as they are.
        let shown = merge_small_bars(&[
            bar("A", 400),
            bar("B", 12),
            bar("C", 0),
            bar("D", 15),
            bar("E", 30),
        ]);
        let labels: Vec<_> = shown.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["A", "C", "E", "B + D"]);
        assert_eq!(shown[3].shown.count, Some(27));
        // Everything small: one bar, itself "≤ 20".
        let shown = merge_small_bars(&[bar("A", 3), bar("B", 4)]);
        assert_eq!(shown.len(), 1);
        assert!(shown[0].shown.is_suppressed());
        // Nothing small: unchanged.
        assert_eq!(merge_small_bars(&[bar("A", 21), bar("B", 0)]).len(), 2);
    }

    #[test]
    fn every_count_from_1_to_20_is_hidden_in_the_displayed_answer() {
        let c = |id: &str, count| Count {
            id: id.into(),
            count,
        };
        let counts = Counts {
            total: 7,
            groups: vec![c("g1", 20), c("g2", 21)],
            criteria: vec![c("c1", 0), c("c2", 1)],
            attrition: vec![c("g1", 20)],
            chart: Chart {
                sex_at_birth: vec![Bar {
                    label: "Female".into(),
                    count: 3,
                }],
                ..Chart::default()
            },
            persons: 1000,
        };
        let json = serde_json::to_value(counts.displayed()).unwrap();
        assert_eq!(json["total"]["count"], serde_json::Value::Null);
        assert_eq!(json["total"]["display"], "≤ 20");
        assert_eq!(json["groups"][0]["display"], "≤ 20");
        assert_eq!(json["groups"][1]["count"], 21);
        assert_eq!(json["criteria"][0]["count"], 0);
        assert_eq!(json["criteria"][1]["display"], "≤ 20");
        assert_eq!(
            json["chart"]["sex_at_birth"][0]["count"],
            serde_json::Value::Null
        );
        let text = json.to_string();
        for n in 1..=20 {
            assert!(!text.contains(&format!(":{n},")) && !text.contains(&format!(":{n}}}")));
        }
    }
}
