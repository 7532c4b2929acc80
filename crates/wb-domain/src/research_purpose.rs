//! The Research Use Statement: the questions a workspace owner answers about what the workspace
//! is for.
//!
//! Input arrives as the strings a browser sends ([`ResearchPurposeInput`]); [`validate`] turns it
//! into a typed [`ResearchPurpose`] or a [`FieldErrors`] naming every field that needs fixing,
//! keyed by the input field names. The questions, options and help texts are exported in the
//! order the form shows them, so pages render them from here rather than restating them.
//!
//! Questions 1, 2 and 5 are published on the Research Hub ([`ResearchPurpose::public_summary`]);
//! question 6 (the request for a review by the Resource Access Board) is never published.

use serde::{Deserialize, Serialize};

use crate::errors::FieldErrors;
use crate::institution::string_enum;

/// The most characters in the disease of focus of disease-focused research.
pub const DISEASE_OF_FOCUS_MAX: usize = 80;
/// The most characters in the details of an "Other Purpose".
pub const OTHER_PURPOSE_MAX: usize = 500;
/// The most characters in the answer to question 2.1.
pub const INTENDED_STUDY_MAX: usize = 1000;
/// The most characters in the answer to question 2.2.
pub const SCIENTIFIC_APPROACH_MAX: usize = 1000;
/// The most characters in the answer to question 2.3.
pub const ANTICIPATED_FINDINGS_MAX: usize = 1000;
/// The most characters in the "Other" way of disseminating findings.
pub const DISSEMINATION_OTHER_MAX: usize = 100;
/// The most characters in the "Other" underrepresented population.
pub const POPULATION_OTHER_MAX: usize = 100;

/// One question of the statement, as the form shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Question {
    /// The number shown before the question, e.g. `"2.1"`.
    pub number: &'static str,
    /// The question itself.
    pub text: &'static str,
    /// Whether the answer is displayed publicly on the Research Hub.
    pub publicly_displayed: bool,
}

/// Question 1: the primary purpose (one or more of [`PrimaryPurpose`]).
pub const Q1_PRIMARY_PURPOSE: Question = Question {
    number: "1",
    text: "What is the primary purpose of your project?",
    publicly_displayed: true,
};

/// Question 2.1: the scientific question(s), answered in `intended_study`.
pub const Q2_1_INTENDED_STUDY: Question = Question {
    number: "2.1",
    text: "What are the specific scientific question(s) you intend to study, and why is the \
           question important?",
    publicly_displayed: true,
};

/// Question 2.2: the scientific approaches, answered in `scientific_approach`.
pub const Q2_2_SCIENTIFIC_APPROACH: Question = Question {
    number: "2.2",
    text: "What are the scientific approaches you plan to use for your study?",
    publicly_displayed: true,
};

/// Question 2.3: the anticipated findings, answered in `anticipated_findings`.
pub const Q2_3_ANTICIPATED_FINDINGS: Question = Question {
    number: "2.3",
    text: "What are the anticipated findings from the study? How would your findings \
           contribute to the body of scientific knowledge in the field?",
    publicly_displayed: true,
};

/// Question 3: how findings will be disseminated (one or more of [`Dissemination`]).
pub const Q3_DISSEMINATION: Question = Question {
    number: "3",
    text: "How do you plan to disseminate your research findings? Select all that apply.",
    publicly_displayed: false,
};

/// Question 4: the anticipated outcomes (one or more of [`Outcome`]).
pub const Q4_OUTCOMES: Question = Question {
    number: "4",
    text: "The program would like to understand how (or if) your research outcome may fit into \
           the program's Scientific Framework. Please select all of the statements below that \
           describe the outcomes you anticipate from your research.",
    publicly_displayed: false,
};

/// Question 5: whether the study centers on underrepresented populations ([`PopulationAnswer`],
/// then [`PopulationGroup`]s).
pub const Q5_POPULATION: Question = Question {
    number: "5",
    text: "Will your study center on underrepresented populations?",
    publicly_displayed: true,
};

/// Question 6: whether the owner asks the Resource Access Board to review the statement
/// ([`ReviewRequest`]). Private: never published.
pub const Q6_REVIEW: Question = Question {
    number: "6",
    text: "Would you like to request a review of your research purpose statement by the \
           Resource Access Board?",
    publicly_displayed: false,
};

/// Every question, in form order.
pub const QUESTIONS: &[Question] = &[
    Q1_PRIMARY_PURPOSE,
    Q2_1_INTENDED_STUDY,
    Q2_2_SCIENTIFIC_APPROACH,
    Q2_3_ANTICIPATED_FINDINGS,
    Q3_DISSEMINATION,
    Q4_OUTCOMES,
    Q5_POPULATION,
    Q6_REVIEW,
];

/// The question a form field of the statement answers (`purposes` → question 1, …).
pub fn question_of_field(field: &str) -> Option<&'static Question> {
    Some(match field {
        "purposes" | "research_areas" | "disease_of_focus" | "other_purpose_details" => {
            &Q1_PRIMARY_PURPOSE
        }
        "intended_study" => &Q2_1_INTENDED_STUDY,
        "scientific_approach" => &Q2_2_SCIENTIFIC_APPROACH,
        "anticipated_findings" => &Q2_3_ANTICIPATED_FINDINGS,
        "dissemination" | "dissemination_other" => &Q3_DISSEMINATION,
        "outcomes" => &Q4_OUTCOMES,
        "population" | "population_groups" | "population_other" => &Q5_POPULATION,
        "review_requested" => &Q6_REVIEW,
        _ => return None,
    })
}

/// One option of a question, as a template renders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Choice {
    /// The stable code the form sends and the database stores.
    pub code: &'static str,
    /// What a person reads.
    pub label: &'static str,
    /// Help text shown under the option, if any.
    pub help: Option<&'static str>,
}

/// Adds `choices()` (every option, in form order, with its help text) to a `string_enum!` type
/// that has a `help()` method.
macro_rules! choices {
    ($($t:ty),+) => {$(
        impl $t {
            /// Every option, in the order the form shows them.
            pub fn choices() -> Vec<Choice> {
                Self::ALL
                    .iter()
                    .map(|o| Choice {
                        code: o.code(),
                        label: o.label(),
                        help: o.help(),
                    })
                    .collect()
            }
        }
    )+};
}

string_enum! {
    /// Question 1: the primary purpose of the project. One or more may be chosen.
    PrimaryPurpose {
        Research => "research", "Research purpose";
        Educational => "educational", "Educational Purpose";
        ForProfit => "for_profit", "For-Profit Purpose";
        Other => "other", "Other Purpose";
    }
}

impl PrimaryPurpose {
    /// Help text shown under the option.
    pub fn help(self) -> Option<&'static str> {
        match self {
            PrimaryPurpose::Research => None,
            PrimaryPurpose::Educational => Some(
                "The data will be used for education purposes (e.g. for a college research \
                 methods course, to educate students on population-based research approaches).",
            ),
            PrimaryPurpose::ForProfit => Some(
                "The data will be used by a for-profit entity for research or product or service \
                 development (e.g. for understanding drug responses as part of a pharmaceutical \
                 company's drug development or market research efforts).",
            ),
            PrimaryPurpose::Other => Some(
                "If your purpose of use is different from the options listed above, please \
                 select \"Other Purpose\" and provide details regarding your purpose of use here \
                 (500 character limit).",
            ),
        }
    }
}

string_enum! {
    /// The kinds of research under "Research purpose". At least one is required when
    /// "Research purpose" is chosen.
    ResearchArea {
        DiseaseFocused => "disease_focused", "Disease-focused research";
        MethodsDevelopment => "methods_development", "Methods development/validation study";
        ResearchControl => "research_control", "Research Control";
        Genetic => "genetic", "Genetic Research";
        SocialBehavioral => "social_behavioral", "Social/Behavioral Research";
        PopulationHealth => "population_health", "Population Health/Public Health Research";
        Elsi => "elsi", "Ethical, Legal, and Social Implications (ELSI) Research";
        DrugDevelopment => "drug_development", "Drug/Therapeutics Development Research";
    }
}

impl ResearchArea {
    /// Help text shown under the option (none of these has any).
    pub fn help(self) -> Option<&'static str> {
        None
    }
}

string_enum! {
    /// Question 3: how the findings will be disseminated. One or more may be chosen.
    Dissemination {
        PeerReviewedJournal => "peer_reviewed_journal", "Publication in peer-reviewed scientific journals";
        ScientificConference => "scientific_conference", "Presentation at national or international scientific conferences";
        CommunityForum => "community_forum", "Presentation at community forums or advisory groups";
        PressRelease => "press_release", "Press release or media article covering this research";
        CommunityBlog => "community_blog", "Publication in a community-based blog";
        PersonalBlog => "personal_blog", "Publication in a personal blog";
        SocialMedia => "social_media", "Social media (e.g. Twitter, Facebook, Instagram)";
        Other => "other", "Other";
    }
}

impl Dissemination {
    /// Help text shown under the option (none of these has any).
    pub fn help(self) -> Option<&'static str> {
        None
    }
}

string_enum! {
    /// Question 4: the outcomes anticipated from the research. One or more may be chosen;
    /// `NoneApply` cannot be combined with the others.
    Outcome {
        Wellness => "wellness", "This research project seeks to increase wellness and resilience, and promote healthy living";
        HealthEquity => "health_equity", "This research project seeks to reduce health disparities and improve health equity in underrepresented in biomedical research (UBR) populations";
        RiskAssessment => "risk_assessment", "This research project seeks to develop improved risk assessment and prevention strategies to preempt disease";
        EarlierDiagnosis => "earlier_diagnosis", "This research project seeks to provide earlier and more accurate diagnosis to decrease illness burden";
        ImprovedTreatment => "improved_treatment", "This research project seeks to improve health outcomes and reduce disease/illness burden through improved treatment and development of precision intervention";
        NoneApply => "none_apply", "None of these statements apply to this research project";
    }
}

impl Outcome {
    /// Help text shown under the option (none of these has any).
    pub fn help(self) -> Option<&'static str> {
        None
    }
}

string_enum! {
    /// Question 5: whether the study centers on underrepresented populations.
    PopulationAnswer {
        Yes => "yes", "Yes, my study will center on underrepresented populations";
        No => "no", "No, my study will not center on underrepresented populations";
    }
}

impl PopulationAnswer {
    /// Help text shown under the option (none of these has any).
    pub fn help(self) -> Option<&'static str> {
        None
    }
}

string_enum! {
    /// Question 5, after "Yes": the underrepresented populations the study centers on. At least
    /// one is required.
    PopulationGroup {
        RaceEthnicity => "race_ethnicity", "Race/ethnicity";
        AgeGroups => "age_groups", "Age groups";
        Sex => "sex", "Sex";
        GenderIdentity => "gender_identity", "Gender identity";
        SexualOrientation => "sexual_orientation", "Sexual orientation";
        GeographyRural => "geography_rural", "Geography (rural)";
        DisabilityStatus => "disability_status", "Disability status";
        AccessToCare => "access_to_care", "Access to care";
        EducationLevel => "education_level", "Education level";
        IncomeLevel => "income_level", "Income level";
        Other => "other", "Other";
    }
}

impl PopulationGroup {
    /// Help text shown under the option (none of these has any).
    pub fn help(self) -> Option<&'static str> {
        None
    }
}

string_enum! {
    /// Question 6: whether the owner asks for a review by the Resource Access Board. Private.
    ReviewRequest {
        Yes => "yes", "Yes, I would like to request a review of my research purpose.";
        No => "no", "No, I have no concerns at this time about potential stigmatization based on my study.";
    }
}

impl ReviewRequest {
    /// Help text shown under the option (none of these has any).
    pub fn help(self) -> Option<&'static str> {
        None
    }
}

choices!(
    PrimaryPurpose,
    ResearchArea,
    Dissemination,
    Outcome,
    PopulationAnswer,
    PopulationGroup,
    ReviewRequest
);

/// The statement as the form sends it. Multi-valued fields hold the codes of the checked boxes;
/// single choices hold one code or `""` when unanswered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResearchPurposeInput {
    /// Question 1: [`PrimaryPurpose`] codes.
    pub purposes: Vec<String>,
    /// Question 1, under "Research purpose": [`ResearchArea`] codes.
    pub research_areas: Vec<String>,
    /// Required with "Disease-focused research".
    pub disease_of_focus: String,
    /// Required with "Other Purpose".
    pub other_purpose_details: String,
    /// Question 2.1.
    pub intended_study: String,
    /// Question 2.2.
    pub scientific_approach: String,
    /// Question 2.3.
    pub anticipated_findings: String,
    /// Question 3: [`Dissemination`] codes.
    pub dissemination: Vec<String>,
    /// Required with the "Other" way of disseminating.
    pub dissemination_other: String,
    /// Question 4: [`Outcome`] codes.
    pub outcomes: Vec<String>,
    /// Question 5: `"yes"`, `"no"` or `""` ([`PopulationAnswer`] codes).
    pub population: String,
    /// Question 5, after "Yes": [`PopulationGroup`] codes.
    pub population_groups: Vec<String>,
    /// Required with the "Other" population group.
    pub population_other: String,
    /// Question 6: `"yes"`, `"no"` or `""` ([`ReviewRequest`] codes).
    pub review_requested: String,
}

/// The answer to question 5, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Population {
    /// The study does not center on underrepresented populations.
    No,
    /// The study centers on these underrepresented populations.
    Yes {
        /// At least one group, in form order, without repeats.
        groups: Vec<PopulationGroup>,
        /// The description of the "Other" group; present exactly when `groups` has it.
        other: Option<String>,
    },
}

impl Population {
    /// The answer to the first part of question 5.
    pub fn answer(&self) -> PopulationAnswer {
        match self {
            Population::No => PopulationAnswer::No,
            Population::Yes { .. } => PopulationAnswer::Yes,
        }
    }
}

/// A validated Research Use Statement. Lists are in form order, without repeats; optional texts
/// are present exactly when the option that needs them is chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResearchPurpose {
    /// Question 1: at least one purpose.
    pub purposes: Vec<PrimaryPurpose>,
    /// The kinds of research: non-empty exactly when `purposes` has `Research`.
    pub research_areas: Vec<ResearchArea>,
    /// Present exactly when `research_areas` has `DiseaseFocused`.
    pub disease_of_focus: Option<String>,
    /// Present exactly when `purposes` has `Other`.
    pub other_purpose_details: Option<String>,
    /// Question 2.1, trimmed.
    pub intended_study: String,
    /// Question 2.2, trimmed.
    pub scientific_approach: String,
    /// Question 2.3, trimmed.
    pub anticipated_findings: String,
    /// Question 3: at least one way.
    pub dissemination: Vec<Dissemination>,
    /// Present exactly when `dissemination` has `Other`.
    pub dissemination_other: Option<String>,
    /// Question 4: at least one outcome; `NoneApply` only on its own.
    pub outcomes: Vec<Outcome>,
    /// Question 5.
    pub population: Population,
    /// Question 6: whether a review by the Resource Access Board was requested. Private.
    pub review_requested: bool,
}

/// What the public Research Hub shows of a statement: questions 1, 2 and 5, never question 6.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicSummary {
    /// Question 1: the labels of the chosen purposes, in form order; "Other Purpose" is
    /// followed by its details (`"Other Purpose: …"`).
    pub purposes: Vec<String>,
    /// Question 1, under "Research purpose": the labels of the kinds of research, in form order;
    /// disease-focused research names the disease (`"Disease-focused research: …"`).
    pub research_areas: Vec<String>,
    /// Question 2.1.
    pub intended_study: String,
    /// Question 2.2.
    pub scientific_approach: String,
    /// Question 2.3.
    pub anticipated_findings: String,
    /// Question 5: the label of the answer.
    pub population: String,
    /// Question 5, after "Yes": the labels of the groups, in form order; "Other" is followed by
    /// its description (`"Other: …"`).
    pub population_groups: Vec<String>,
}

/// Whether `s` holds a control character other than a line break or tab, or a
/// text-direction control.
fn has_control(s: &str) -> bool {
    crate::text::check(s, crate::text::Kind::Paragraphs).is_err()
}

/// Checks a text that must be present, at most `max` characters and free of control
/// characters; returns it trimmed.
fn required_text(
    errors: &mut FieldErrors,
    field: &str,
    value: &str,
    max: usize,
    missing: &str,
) -> String {
    let t = value.trim();
    let n = t.chars().count();
    if t.is_empty() {
        errors.add(field, missing);
    } else if n > max {
        errors.add(
            field,
            format!("Use at most {max} characters (this has {n})."),
        );
    } else if has_control(t) {
        errors.add(field, crate::text::PARAGRAPHS_MESSAGE);
    }
    t.to_owned()
}

/// Checks the text an option needs: `required` says whether the option is chosen. Returns the
/// trimmed text when the option is chosen, and drops it otherwise (a leftover from a box the
/// user unchecked).
fn dependent_text(
    errors: &mut FieldErrors,
    field: &str,
    value: &str,
    required: bool,
    max: usize,
    missing: &str,
) -> Option<String> {
    if !required {
        return None;
    }
    Some(required_text(errors, field, value, max, missing))
}

/// Parses checked boxes: unknown codes are refused, repeats dropped, the result in form order.
fn codes<T: Copy + Ord>(
    errors: &mut FieldErrors,
    field: &str,
    values: &[String],
    parse: fn(&str) -> Option<T>,
) -> Vec<T> {
    let mut out = Vec::new();
    for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        match parse(v) {
            Some(x) => out.push(x),
            None => errors.add(field, "Choose only from the listed options."),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Parses a required single choice.
fn one_code<T>(
    errors: &mut FieldErrors,
    field: &str,
    value: &str,
    parse: fn(&str) -> Option<T>,
    missing: &str,
) -> Option<T> {
    let v = value.trim();
    if v.is_empty() {
        errors.add(field, missing);
        return None;
    }
    let parsed = parse(v);
    if parsed.is_none() {
        errors.add(field, "Choose one of the listed options.");
    }
    parsed
}

/// Validates a Research Use Statement and reports every problem, keyed by the
/// [`ResearchPurposeInput`] field it concerns.
///
/// Texts are trimmed. Whatever belongs to an option that is not chosen is dropped, unchecked, as
/// a leftover of a choice the user took back: a text (the disease of focus without
/// "Disease-focused research", the "Other" details without "Other") and the sub-options of a
/// parent that is not chosen (kinds of research without "Research purpose", population groups
/// without "Yes"). The form shows those fields only while their option is chosen, so an error
/// about them would name something the user cannot see.
pub fn validate(input: &ResearchPurposeInput) -> Result<ResearchPurpose, FieldErrors> {
    let mut errors = FieldErrors::new();

    // Question 1.
    let purposes = codes(
        &mut errors,
        "purposes",
        &input.purposes,
        PrimaryPurpose::from_code,
    );
    if purposes.is_empty() {
        errors.add("purposes", "Select at least one primary purpose.");
    }
    let research = purposes.contains(&PrimaryPurpose::Research);
    let research_areas = if research {
        codes(
            &mut errors,
            "research_areas",
            &input.research_areas,
            ResearchArea::from_code,
        )
    } else {
        Vec::new()
    };
    if research && research_areas.is_empty() {
        errors.add(
            "research_areas",
            "Select at least one kind of research for 'Research purpose'.",
        );
    }
    let disease_of_focus = dependent_text(
        &mut errors,
        "disease_of_focus",
        &input.disease_of_focus,
        research && research_areas.contains(&ResearchArea::DiseaseFocused),
        DISEASE_OF_FOCUS_MAX,
        "Name the disease of focus of your research.",
    );
    let other_purpose_details = dependent_text(
        &mut errors,
        "other_purpose_details",
        &input.other_purpose_details,
        purposes.contains(&PrimaryPurpose::Other),
        OTHER_PURPOSE_MAX,
        "Describe your purpose of use.",
    );

    // Question 2.
    let intended_study = required_text(
        &mut errors,
        "intended_study",
        &input.intended_study,
        INTENDED_STUDY_MAX,
        "Describe the scientific question(s) you intend to study and why they are important.",
    );
    let scientific_approach = required_text(
        &mut errors,
        "scientific_approach",
        &input.scientific_approach,
        SCIENTIFIC_APPROACH_MAX,
        "Describe the scientific approaches you plan to use.",
    );
    let anticipated_findings = required_text(
        &mut errors,
        "anticipated_findings",
        &input.anticipated_findings,
        ANTICIPATED_FINDINGS_MAX,
        "Describe the findings you anticipate and how they would contribute to the field.",
    );

    // Question 3.
    let dissemination = codes(
        &mut errors,
        "dissemination",
        &input.dissemination,
        Dissemination::from_code,
    );
    if dissemination.is_empty() {
        errors.add(
            "dissemination",
            "Select at least one way you plan to disseminate your findings.",
        );
    }
    let dissemination_other = dependent_text(
        &mut errors,
        "dissemination_other",
        &input.dissemination_other,
        dissemination.contains(&Dissemination::Other),
        DISSEMINATION_OTHER_MAX,
        "Describe how else you plan to disseminate your findings.",
    );

    // Question 4.
    let outcomes = codes(&mut errors, "outcomes", &input.outcomes, Outcome::from_code);
    if outcomes.is_empty() {
        errors.add(
            "outcomes",
            "Select at least one statement, or 'None of these statements apply to this research \
             project'.",
        );
    } else if outcomes.contains(&Outcome::NoneApply) && outcomes.len() > 1 {
        errors.add(
            "outcomes",
            "'None of these statements apply to this research project' cannot be combined with \
             other statements.",
        );
    }

    // Question 5.
    let answer = one_code(
        &mut errors,
        "population",
        &input.population,
        PopulationAnswer::from_code,
        "Answer whether your study will center on underrepresented populations.",
    );
    let yes = answer == Some(PopulationAnswer::Yes);
    let groups = if yes {
        codes(
            &mut errors,
            "population_groups",
            &input.population_groups,
            PopulationGroup::from_code,
        )
    } else {
        Vec::new()
    };
    if yes && groups.is_empty() {
        errors.add(
            "population_groups",
            "Select at least one underrepresented population your study will center on.",
        );
    }
    let population_other = dependent_text(
        &mut errors,
        "population_other",
        &input.population_other,
        yes && groups.contains(&PopulationGroup::Other),
        POPULATION_OTHER_MAX,
        "Describe the other underrepresented population.",
    );

    // Question 6.
    let review = one_code(
        &mut errors,
        "review_requested",
        &input.review_requested,
        ReviewRequest::from_code,
        "Answer whether you would like the Resource Access Board to review your research \
         purpose.",
    );

    match (errors.is_empty(), answer, review) {
        (true, Some(answer), Some(review)) => Ok(ResearchPurpose {
            purposes,
            research_areas,
            disease_of_focus,
            other_purpose_details,
            intended_study,
            scientific_approach,
            anticipated_findings,
            dissemination,
            dissemination_other,
            outcomes,
            population: match answer {
                PopulationAnswer::No => Population::No,
                PopulationAnswer::Yes => Population::Yes {
                    groups,
                    other: population_other,
                },
            },
            review_requested: review == ReviewRequest::Yes,
        }),
        _ => Err(errors),
    }
}

impl ResearchPurpose {
    /// The form input that [`validate`]s back to this statement: to edit it, or to prefill the
    /// statement of a duplicated workspace.
    pub fn to_input(&self) -> ResearchPurposeInput {
        fn codes<T: Copy>(values: &[T], code: fn(T) -> &'static str) -> Vec<String> {
            values.iter().map(|v| code(*v).to_owned()).collect()
        }
        let (groups, other): (&[PopulationGroup], Option<&String>) = match &self.population {
            Population::No => (&[], None),
            Population::Yes { groups, other } => (groups, other.as_ref()),
        };
        ResearchPurposeInput {
            purposes: codes(&self.purposes, PrimaryPurpose::code),
            research_areas: codes(&self.research_areas, ResearchArea::code),
            disease_of_focus: self.disease_of_focus.clone().unwrap_or_default(),
            other_purpose_details: self.other_purpose_details.clone().unwrap_or_default(),
            intended_study: self.intended_study.clone(),
            scientific_approach: self.scientific_approach.clone(),
            anticipated_findings: self.anticipated_findings.clone(),
            dissemination: codes(&self.dissemination, Dissemination::code),
            dissemination_other: self.dissemination_other.clone().unwrap_or_default(),
            outcomes: codes(&self.outcomes, Outcome::code),
            population: self.population.answer().code().to_owned(),
            population_groups: codes(groups, PopulationGroup::code),
            population_other: other.cloned().unwrap_or_default(),
            review_requested: if self.review_requested {
                ReviewRequest::Yes
            } else {
                ReviewRequest::No
            }
            .code()
            .to_owned(),
        }
    }

    /// What the public Research Hub shows: questions 1, 2 and 5. Question 6 (the review
    /// request) is private and never part of it; questions 3 and 4 are not published either.
    pub fn public_summary(&self) -> PublicSummary {
        let with_detail = |label: &str, detail: Option<&String>| match detail {
            Some(d) => format!("{label}: {d}"),
            None => label.to_owned(),
        };
        let purposes = self
            .purposes
            .iter()
            .map(|p| match p {
                PrimaryPurpose::Other => {
                    with_detail(p.label(), self.other_purpose_details.as_ref())
                }
                _ => p.label().to_owned(),
            })
            .collect();
        let research_areas = self
            .research_areas
            .iter()
            .map(|a| match a {
                ResearchArea::DiseaseFocused => {
                    with_detail(a.label(), self.disease_of_focus.as_ref())
                }
                _ => a.label().to_owned(),
            })
            .collect();
        let population_groups = match &self.population {
            Population::No => Vec::new(),
            Population::Yes { groups, other } => groups
                .iter()
                .map(|g| match g {
                    PopulationGroup::Other => with_detail(g.label(), other.as_ref()),
                    _ => g.label().to_owned(),
                })
                .collect(),
        };
        PublicSummary {
            purposes,
            research_areas,
            intended_study: self.intended_study.clone(),
            scientific_approach: self.scientific_approach.clone(),
            anticipated_findings: self.anticipated_findings.clone(),
            population: self.population.answer().label().to_owned(),
            population_groups,
        }
    }
}

/// Question 2.1 of the statement of the seeded training workspace.
pub const TRAINING_INTENDED_STUDY: &str = "This workspace is for learning to use the workbench. \
No specific scientific question will be studied: it is used to practise building cohorts, concept \
sets and datasets on the program's data.";

/// Question 2.2 of the statement of the seeded training workspace.
pub const TRAINING_SCIENTIFIC_APPROACH: &str = "Guided exercises: building cohorts with the \
cohort builder, selecting concepts, creating datasets and exploring them in notebooks.";

/// Question 2.3 of the statement of the seeded training workspace.
pub const TRAINING_ANTICIPATED_FINDINGS: &str = "No findings are anticipated. The workspace \
supports training only; what is learned is how to use the workbench and its data responsibly.";

/// The "Other" way of disseminating of the seeded training workspace.
pub const TRAINING_DISSEMINATION_OTHER: &str =
    "This workspace is dedicated solely to educational purposes and no findings will be published.";

/// The statement of the seeded training workspace: Educational Purpose, the training answers to
/// question 2, "Other" dissemination with [`TRAINING_DISSEMINATION_OTHER`], "None of these
/// statements apply", not centered on underrepresented populations, no review requested.
pub fn training_input() -> ResearchPurposeInput {
    ResearchPurposeInput {
        purposes: vec![PrimaryPurpose::Educational.code().to_owned()],
        intended_study: TRAINING_INTENDED_STUDY.to_owned(),
        scientific_approach: TRAINING_SCIENTIFIC_APPROACH.to_owned(),
        anticipated_findings: TRAINING_ANTICIPATED_FINDINGS.to_owned(),
        dissemination: vec![Dissemination::Other.code().to_owned()],
        dissemination_other: TRAINING_DISSEMINATION_OTHER.to_owned(),
        outcomes: vec![Outcome::NoneApply.code().to_owned()],
        population: PopulationAnswer::No.code().to_owned(),
        review_requested: ReviewRequest::No.code().to_owned(),
        ..Default::default()
    }
}

#[cfg(test)]
mod field_tests {
    use super::*;

    /// Every field the validation can name belongs to a question, so the form can say which
    /// question is left.
    #[test]
    fn every_validated_field_has_its_question() {
        let errors = validate(&ResearchPurposeInput::default()).unwrap_err();
        assert!(!errors.is_empty());
        for (field, _) in errors.iter() {
            assert!(question_of_field(field).is_some(), "{field}");
        }
        assert_eq!(question_of_field("dissemination").unwrap().number, "3");
        assert_eq!(question_of_field("name"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &str) -> String {
        v.to_owned()
    }

    /// A complete research statement touching every dependent field.
    fn full_input() -> ResearchPurposeInput {
        ResearchPurposeInput {
            purposes: vec![s("research"), s("other")],
            research_areas: vec![s("genetic"), s("disease_focused")],
            disease_of_focus: s("  Type 2 diabetes "),
            other_purpose_details: s("Validating a screening tool."),
            intended_study: s("Which variants modify diabetes risk?"),
            scientific_approach: s("Genome-wide association with survival models."),
            anticipated_findings: s("New risk loci that inform prevention."),
            dissemination: vec![s("peer_reviewed_journal"), s("other")],
            dissemination_other: s("A workshop for clinicians."),
            outcomes: vec![s("risk_assessment"), s("health_equity")],
            population: s("yes"),
            population_groups: vec![s("income_level"), s("other"), s("race_ethnicity")],
            population_other: s("Shift workers"),
            review_requested: s("yes"),
        }
    }

    #[test]
    fn the_training_statement_validates() {
        let input = training_input();
        assert_eq!(input.purposes, vec!["educational"]);
        assert_eq!(input.outcomes, vec!["none_apply"]);
        assert_eq!(
            input.dissemination_other,
            "This workspace is dedicated solely to educational purposes and no findings will be \
             published."
        );
        let p = validate(&input).unwrap();
        assert_eq!(p.purposes, vec![PrimaryPurpose::Educational]);
        assert!(p.research_areas.is_empty());
        assert_eq!(p.dissemination, vec![Dissemination::Other]);
        assert_eq!(
            p.dissemination_other.as_deref(),
            Some(TRAINING_DISSEMINATION_OTHER)
        );
        assert_eq!(p.outcomes, vec![Outcome::NoneApply]);
        assert_eq!(p.population, Population::No);
        assert!(!p.review_requested);
        assert_eq!(p.intended_study, TRAINING_INTENDED_STUDY);
        assert_eq!(p.scientific_approach, TRAINING_SCIENTIFIC_APPROACH);
        assert_eq!(p.anticipated_findings, TRAINING_ANTICIPATED_FINDINGS);
        assert_eq!(p.to_input(), input);
    }

    #[test]
    fn a_full_statement_validates_in_form_order() {
        let p = validate(&full_input()).unwrap();
        assert_eq!(
            p.purposes,
            vec![PrimaryPurpose::Research, PrimaryPurpose::Other]
        );
        assert_eq!(
            p.research_areas,
            vec![ResearchArea::DiseaseFocused, ResearchArea::Genetic]
        );
        assert_eq!(p.disease_of_focus.as_deref(), Some("Type 2 diabetes"));
        assert_eq!(
            p.outcomes,
            vec![Outcome::HealthEquity, Outcome::RiskAssessment]
        );
        assert_eq!(
            p.population,
            Population::Yes {
                groups: vec![
                    PopulationGroup::RaceEthnicity,
                    PopulationGroup::IncomeLevel,
                    PopulationGroup::Other
                ],
                other: Some(s("Shift workers")),
            }
        );
        assert!(p.review_requested);
        assert_eq!(validate(&p.to_input()).unwrap(), p);
    }

    #[test]
    fn each_rule_names_its_field() {
        type Mutation = Box<dyn Fn(&mut ResearchPurposeInput)>;
        let cases: Vec<(&str, &str, Mutation)> = vec![
            (
                "purposes",
                "at least one primary purpose",
                Box::new(|i| {
                    i.purposes.clear();
                    i.research_areas.clear();
                }),
            ),
            (
                "purposes",
                "listed options",
                Box::new(|i| i.purposes.push(s("fun"))),
            ),
            (
                "research_areas",
                "at least one kind of research",
                Box::new(|i| i.research_areas.clear()),
            ),
            (
                "research_areas",
                "listed options",
                Box::new(|i| i.research_areas.push(s("astrology"))),
            ),
            (
                "disease_of_focus",
                "disease of focus",
                Box::new(|i| i.disease_of_focus = s("   ")),
            ),
            (
                "disease_of_focus",
                "at most 80 characters (this has 81)",
                Box::new(|i| i.disease_of_focus = "d".repeat(81)),
            ),
            (
                "other_purpose_details",
                "purpose of use",
                Box::new(|i| i.other_purpose_details.clear()),
            ),
            (
                "other_purpose_details",
                "at most 500 characters",
                Box::new(|i| i.other_purpose_details = "o".repeat(501)),
            ),
            (
                "intended_study",
                "scientific question",
                Box::new(|i| i.intended_study.clear()),
            ),
            (
                "intended_study",
                "at most 1000 characters",
                Box::new(|i| i.intended_study = "q".repeat(1001)),
            ),
            (
                "intended_study",
                "control characters",
                Box::new(|i| i.intended_study = s("a\u{0}b")),
            ),
            (
                "scientific_approach",
                "approaches",
                Box::new(|i| i.scientific_approach = s(" ")),
            ),
            (
                "scientific_approach",
                "at most 1000 characters",
                Box::new(|i| i.scientific_approach = "a".repeat(1001)),
            ),
            (
                "anticipated_findings",
                "findings you anticipate",
                Box::new(|i| i.anticipated_findings.clear()),
            ),
            (
                "anticipated_findings",
                "at most 1000 characters",
                Box::new(|i| i.anticipated_findings = "f".repeat(1001)),
            ),
            (
                "dissemination",
                "at least one way",
                Box::new(|i| i.dissemination.clear()),
            ),
            (
                "dissemination_other",
                "disseminate",
                Box::new(|i| i.dissemination_other.clear()),
            ),
            (
                "dissemination_other",
                "at most 100 characters",
                Box::new(|i| i.dissemination_other = "x".repeat(101)),
            ),
            (
                "outcomes",
                "at least one statement",
                Box::new(|i| i.outcomes.clear()),
            ),
            (
                "outcomes",
                "cannot be combined",
                Box::new(|i| i.outcomes.push(s("none_apply"))),
            ),
            (
                "population",
                "underrepresented populations",
                Box::new(|i| {
                    i.population.clear();
                    i.population_groups.clear();
                }),
            ),
            (
                "population",
                "one of the listed options",
                Box::new(|i| {
                    i.population = s("maybe");
                    i.population_groups.clear();
                }),
            ),
            (
                "population_groups",
                "at least one underrepresented population",
                Box::new(|i| i.population_groups.clear()),
            ),
            (
                "population_other",
                "other underrepresented population",
                Box::new(|i| i.population_other.clear()),
            ),
            (
                "population_other",
                "at most 100 characters",
                Box::new(|i| i.population_other = "p".repeat(101)),
            ),
            (
                "review_requested",
                "Resource Access Board",
                Box::new(|i| i.review_requested.clear()),
            ),
            (
                "review_requested",
                "one of the listed options",
                Box::new(|i| i.review_requested = s("perhaps")),
            ),
        ];
        for (field, phrase, mutate) in cases {
            let mut input = full_input();
            mutate(&mut input);
            let errs = validate(&input).unwrap_err();
            let msg = errs.get(field).unwrap_or_else(|| panic!("{field}: {errs}"));
            assert!(msg.contains(phrase), "{field}: {msg}");
            assert_eq!(errs.len(), 1, "only {field} should fail: {errs}");
        }
    }

    #[test]
    fn limits_are_inclusive() {
        let mut input = full_input();
        input.disease_of_focus = "d".repeat(DISEASE_OF_FOCUS_MAX);
        input.other_purpose_details = "o".repeat(OTHER_PURPOSE_MAX);
        input.intended_study = "é".repeat(INTENDED_STUDY_MAX);
        input.scientific_approach = "a".repeat(SCIENTIFIC_APPROACH_MAX);
        input.anticipated_findings = "f".repeat(ANTICIPATED_FINDINGS_MAX);
        input.dissemination_other = "x".repeat(DISSEMINATION_OTHER_MAX);
        input.population_other = "p".repeat(POPULATION_OTHER_MAX);
        assert!(validate(&input).is_ok());
    }

    #[test]
    fn texts_of_unchecked_options_are_dropped() {
        let mut input = full_input();
        input.purposes = vec![s("research")];
        input.research_areas = vec![s("genetic")];
        input.dissemination = vec![s("personal_blog")];
        input.population_groups = vec![s("sex")];
        let p = validate(&input).unwrap();
        assert_eq!(p.disease_of_focus, None);
        assert_eq!(p.other_purpose_details, None);
        assert_eq!(p.dissemination_other, None);
        assert_eq!(
            p.population,
            Population::Yes {
                groups: vec![PopulationGroup::Sex],
                other: None
            }
        );
    }

    #[test]
    fn sub_options_of_an_unchosen_parent_are_dropped() {
        // Research purpose ticked, kinds of research chosen, then Research purpose unticked (the
        // kinds stay checked, hidden); the same for population groups after "Yes" became "No".
        let mut input = full_input();
        input.purposes = vec![s("educational")];
        input.research_areas = vec![s("genetic"), s("astrology")];
        input.population = s("no");
        input.population_groups = vec![s("sex"), s("other"), s("unknown")];
        let p = validate(&input).unwrap();
        assert_eq!(p.purposes, vec![PrimaryPurpose::Educational]);
        assert!(p.research_areas.is_empty());
        assert_eq!(p.disease_of_focus, None);
        assert_eq!(p.population, Population::No);
        assert_eq!(validate(&p.to_input()), Ok(p.clone()));

        // With the parent chosen the same choices are checked as before.
        input.purposes = vec![s("research")];
        input.population = s("yes");
        let errs = validate(&input).unwrap_err();
        assert!(errs.get("research_areas").is_some(), "{errs}");
        assert!(errs.get("population_groups").is_some(), "{errs}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errs = validate(&ResearchPurposeInput::default()).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            vec![
                "purposes",
                "intended_study",
                "scientific_approach",
                "anticipated_findings",
                "dissemination",
                "outcomes",
                "population",
                "review_requested"
            ]
        );
    }

    #[test]
    fn the_public_summary_never_shows_the_review_request() {
        let p = validate(&full_input()).unwrap();
        let summary = p.public_summary();
        assert_eq!(
            summary.purposes,
            vec![
                s("Research purpose"),
                s("Other Purpose: Validating a screening tool.")
            ]
        );
        assert_eq!(
            summary.research_areas,
            vec![
                s("Disease-focused research: Type 2 diabetes"),
                s("Genetic Research")
            ]
        );
        assert_eq!(summary.intended_study, p.intended_study);
        assert_eq!(summary.scientific_approach, p.scientific_approach);
        assert_eq!(summary.anticipated_findings, p.anticipated_findings);
        assert_eq!(
            summary.population,
            "Yes, my study will center on underrepresented populations"
        );
        assert_eq!(
            summary.population_groups,
            vec![
                s("Race/ethnicity"),
                s("Income level"),
                s("Other: Shift workers")
            ]
        );
        let shown = format!("{summary:?}");
        for private in [ReviewRequest::Yes.label(), ReviewRequest::No.label()] {
            assert!(!shown.contains(private));
        }
        assert!(!shown.contains("A workshop for clinicians."));

        let training = validate(&training_input()).unwrap().public_summary();
        assert_eq!(training.purposes, vec![s("Educational Purpose")]);
        assert!(training.research_areas.is_empty());
        assert_eq!(
            training.population,
            "No, my study will not center on underrepresented populations"
        );
        assert!(training.population_groups.is_empty());
    }

    #[test]
    fn options_are_exported_in_form_order() {
        let purposes = PrimaryPurpose::choices();
        assert_eq!(
            purposes.iter().map(|c| c.label).collect::<Vec<_>>(),
            vec![
                "Research purpose",
                "Educational Purpose",
                "For-Profit Purpose",
                "Other Purpose"
            ]
        );
        assert!(purposes[3].help.unwrap().contains("(500 character limit)"));
        assert!(
            purposes[1]
                .help
                .unwrap()
                .starts_with("The data will be used")
        );
        assert_eq!(ResearchArea::choices().len(), 8);
        assert_eq!(Dissemination::choices().len(), 8);
        assert_eq!(Outcome::choices().last().unwrap().code, "none_apply");
        assert_eq!(PopulationGroup::choices().len(), 11);
        assert_eq!(ReviewRequest::choices()[0].code, "yes");
        assert_eq!(QUESTIONS.len(), 8);
        let public: Vec<&str> = QUESTIONS
            .iter()
            .filter(|q| q.publicly_displayed)
            .map(|q| q.number)
            .collect();
        assert_eq!(public, vec!["1", "2.1", "2.2", "2.3", "5"]);
        // Codes are unique and snake_case.
        let all: Vec<Vec<Choice>> = vec![
            PrimaryPurpose::choices(),
            ResearchArea::choices(),
            Dissemination::choices(),
            Outcome::choices(),
            PopulationAnswer::choices(),
            PopulationGroup::choices(),
            ReviewRequest::choices(),
        ];
        for list in all {
            let mut codes: Vec<&str> = list.iter().map(|c| c.code).collect();
            assert!(
                codes
                    .iter()
                    .all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'))
            );
            codes.sort_unstable();
            codes.dedup();
            assert_eq!(codes.len(), list.len());
        }
    }

    fn subset<T: Copy + std::fmt::Debug + 'static>(
        all: &'static [T],
    ) -> impl Strategy<Value = Vec<T>> {
        proptest::sample::subsequence(all, 0..=all.len()).prop_shuffle()
    }

    proptest! {
        /// Whatever boxes are checked, a statement that validates survives `to_input` unchanged,
        /// and its lists come out in form order without repeats.
        #[test]
        fn valid_statements_round_trip(
            purposes in subset(PrimaryPurpose::ALL),
            areas in subset(ResearchArea::ALL),
            dissemination in subset(Dissemination::ALL),
            outcomes in subset(Outcome::ALL),
            groups in subset(PopulationGroup::ALL),
            yes in any::<bool>(),
            review in any::<bool>(),
        ) {
            let codes = |v: &[&'static str]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
            let input = ResearchPurposeInput {
                purposes: codes(&purposes.iter().map(|p| p.code()).collect::<Vec<_>>()),
                research_areas: codes(&areas.iter().map(|p| p.code()).collect::<Vec<_>>()),
                disease_of_focus: s("Asthma"),
                other_purpose_details: s("Details"),
                intended_study: s("Q"),
                scientific_approach: s("A"),
                anticipated_findings: s("F"),
                dissemination: codes(&dissemination.iter().map(|p| p.code()).collect::<Vec<_>>()),
                dissemination_other: s("Zine"),
                outcomes: codes(&outcomes.iter().map(|p| p.code()).collect::<Vec<_>>()),
                population: s(if yes { "yes" } else { "no" }),
                population_groups: codes(&groups.iter().map(|p| p.code()).collect::<Vec<_>>()),
                population_other: s("Farmers"),
                review_requested: s(if review { "yes" } else { "no" }),
            };
            let research = purposes.contains(&PrimaryPurpose::Research);
            // Kinds of research without "Research purpose" and groups without "Yes" are dropped.
            let research_consistent = !research || !areas.is_empty();
            let population_consistent = !yes || !groups.is_empty();
            let none_alone = !outcomes.contains(&Outcome::NoneApply) || outcomes.len() == 1;
            let ok_expected = !purposes.is_empty()
                && research_consistent
                && !dissemination.is_empty()
                && !outcomes.is_empty()
                && none_alone
                && population_consistent;
            match validate(&input) {
                Ok(p) => {
                    prop_assert!(ok_expected);
                    prop_assert!(p.purposes.windows(2).all(|w| w[0] < w[1]));
                    prop_assert!(p.research_areas.windows(2).all(|w| w[0] < w[1]));
                    prop_assert_eq!(
                        p.disease_of_focus.is_some(),
                        p.research_areas.contains(&ResearchArea::DiseaseFocused)
                    );
                    prop_assert_eq!(validate(&p.to_input()), Ok(p.clone()));
                }
                Err(e) => prop_assert!(!ok_expected, "{}", e),
            }
        }
    }
}
