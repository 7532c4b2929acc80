//! A synthetic, licence-clean OMOP vocabulary.
//!
//! Per domain, concepts form a DAG: each concept after the domain's root picks one parent among
//! the concepts made before it (a random recursive tree, so depth grows like `ln n` and a few
//! nodes get many children), and some pick a second parent, so hierarchies overlap as SNOMED's
//! do. Edges always point to earlier concepts, which keeps the graph acyclic by construction.
//! Names come from a small morpheme grammar so that search has shared prefixes and tokens.
//! A set of well-known standard concepts that trainees search for keep their real public OMOP
//! concept ids, names and codes, placed under named parents. Synthetic ids start at
//! [`SYNTHETIC_ID_BASE`], above the public standard id ranges.

use std::collections::BTreeMap;

use crate::rng::Stream;

/// Synthetic concept ids start here.
pub const SYNTHETIC_ID_BASE: i64 = 2_100_000_000;

/// Each domain's synthetic ids occupy `[base + d * span, base + (d + 1) * span)`.
pub const DOMAIN_ID_SPAN: i64 = 10_000_000;

/// The OMOP domains of the vocabulary. The first six ([`Domain::ALL`]) get generated
/// hierarchies; the others hold a fixed list of well-known concepts (genders, races, visit
/// types, type concepts, units, qualitative values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Domain {
    Condition,
    Drug,
    Measurement,
    Procedure,
    Observation,
    Device,
    Gender,
    Race,
    Ethnicity,
    Visit,
    TypeConcept,
    Unit,
    MeasValue,
    Language,
}

impl Domain {
    /// The domains with generated hierarchies (their order fixes their id ranges).
    pub const ALL: [Domain; 6] = [
        Domain::Condition,
        Domain::Drug,
        Domain::Measurement,
        Domain::Procedure,
        Domain::Observation,
        Domain::Device,
    ];

    /// Every domain the vocabulary has concepts in.
    pub const EVERY: [Domain; 14] = [
        Domain::Condition,
        Domain::Drug,
        Domain::Measurement,
        Domain::Procedure,
        Domain::Observation,
        Domain::Device,
        Domain::Gender,
        Domain::Race,
        Domain::Ethnicity,
        Domain::Visit,
        Domain::TypeConcept,
        Domain::Unit,
        Domain::MeasValue,
        Domain::Language,
    ];

    /// The OMOP `domain_id`.
    pub fn id(self) -> &'static str {
        match self {
            Domain::Condition => "Condition",
            Domain::Drug => "Drug",
            Domain::Measurement => "Measurement",
            Domain::Procedure => "Procedure",
            Domain::Observation => "Observation",
            Domain::Device => "Device",
            Domain::Gender => "Gender",
            Domain::Race => "Race",
            Domain::Ethnicity => "Ethnicity",
            Domain::Visit => "Visit",
            Domain::TypeConcept => "Type Concept",
            Domain::Unit => "Unit",
            Domain::MeasValue => "Meas Value",
            Domain::Language => "Language",
        }
    }

    pub fn from_id(id: &str) -> Option<Domain> {
        Domain::EVERY
            .into_iter()
            .find(|d| d.id().eq_ignore_ascii_case(id))
    }

    fn code_prefix(self) -> &'static str {
        match self {
            Domain::Condition => "C",
            Domain::Drug => "D",
            Domain::Measurement => "M",
            Domain::Procedure => "P",
            Domain::Observation => "O",
            Domain::Device => "E",
            _ => "X",
        }
    }

    fn root_name(self) -> &'static str {
        match self {
            Domain::Condition => "Clinical finding",
            Domain::Drug => "Drug product",
            Domain::Measurement => "Laboratory and clinical measurement",
            Domain::Procedure => "Procedure",
            Domain::Observation => "Observable entity",
            Domain::Device => "Medical device",
            _ => "Metadata",
        }
    }
}

/// A concept outside the generated hierarchies, under its public OMOP id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixed {
    pub concept_id: i64,
    pub name: &'static str,
    pub domain: Domain,
    pub vocabulary_id: &'static str,
    pub concept_class_id: &'static str,
    pub code: &'static str,
}

const fn fixed(
    concept_id: i64,
    name: &'static str,
    domain: Domain,
    vocabulary_id: &'static str,
    concept_class_id: &'static str,
    code: &'static str,
) -> Fixed {
    Fixed {
        concept_id,
        name,
        domain,
        vocabulary_id,
        concept_class_id,
        code,
    }
}

/// Genders, races, ethnicities, visit types, type concepts, units and qualitative values the
/// generated data refers to.
pub const FIXED: &[Fixed] = &[
    fixed(8532, "FEMALE", Domain::Gender, "Gender", "Gender", "F"),
    fixed(8507, "MALE", Domain::Gender, "Gender", "Gender", "M"),
    fixed(8527, "White", Domain::Race, "Race", "Race", "5"),
    fixed(
        8516,
        "Black or African American",
        Domain::Race,
        "Race",
        "Race",
        "3",
    ),
    fixed(8515, "Asian", Domain::Race, "Race", "Race", "2"),
    fixed(
        38003563,
        "Hispanic or Latino",
        Domain::Ethnicity,
        "Ethnicity",
        "Ethnicity",
        "Hispanic",
    ),
    fixed(
        38003564,
        "Not Hispanic or Latino",
        Domain::Ethnicity,
        "Ethnicity",
        "Ethnicity",
        "Not Hispanic",
    ),
    fixed(
        9201,
        "Inpatient Visit",
        Domain::Visit,
        "Visit",
        "Visit",
        "IP",
    ),
    fixed(
        9202,
        "Outpatient Visit",
        Domain::Visit,
        "Visit",
        "Visit",
        "OP",
    ),
    fixed(
        9203,
        "Emergency Room Visit",
        Domain::Visit,
        "Visit",
        "Visit",
        "ER",
    ),
    fixed(
        32817,
        "EHR",
        Domain::TypeConcept,
        "Type Concept",
        "Type Concept",
        "OMOP4976890",
    ),
    fixed(
        32862,
        "Patient filled survey",
        Domain::TypeConcept,
        "Type Concept",
        "Type Concept",
        "OMOP4976935",
    ),
    fixed(
        32879,
        "Registry",
        Domain::TypeConcept,
        "Type Concept",
        "Type Concept",
        "OMOP4976952",
    ),
    fixed(8554, "percent", Domain::Unit, "UCUM", "Unit", "%"),
    fixed(
        8840,
        "milligram per deciliter",
        Domain::Unit,
        "UCUM",
        "Unit",
        "mg/dL",
    ),
    fixed(
        8753,
        "millimole per liter",
        Domain::Unit,
        "UCUM",
        "Unit",
        "mmol/L",
    ),
    fixed(
        8713,
        "gram per deciliter",
        Domain::Unit,
        "UCUM",
        "Unit",
        "g/dL",
    ),
    fixed(
        8876,
        "millimeter mercury column",
        Domain::Unit,
        "UCUM",
        "Unit",
        "mm[Hg]",
    ),
    fixed(
        9531,
        "kilogram per square meter",
        Domain::Unit,
        "UCUM",
        "Unit",
        "kg/m2",
    ),
    fixed(
        45884084,
        "Positive",
        Domain::MeasValue,
        "LOINC",
        "Answer",
        "LA6576-8",
    ),
    fixed(
        45878583,
        "Negative",
        Domain::MeasValue,
        "LOINC",
        "Answer",
        "LA6577-6",
    ),
    fixed(
        4180186,
        "English language",
        Domain::Language,
        "SNOMED",
        "Qualifier Value",
        "297496006",
    ),
];

/// One row of `concept`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concept {
    pub concept_id: i64,
    pub concept_name: String,
    pub domain: Domain,
    pub vocabulary_id: &'static str,
    pub concept_class_id: &'static str,
    /// `S` for standard concepts (every generated concept is standard for now).
    pub standard: bool,
    pub concept_code: String,
}

/// A well-known concept kept under its real public OMOP id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub concept_id: i64,
    pub name: &'static str,
    pub domain: Domain,
    pub vocabulary_id: &'static str,
    pub concept_class_id: &'static str,
    pub code: &'static str,
    /// Another anchor it sits under, if any.
    pub parent: Option<i64>,
    /// Other names it is known by (`concept_synonym`).
    pub synonyms: &'static [&'static str],
}

/// The standard concepts trainees search for, with their public OMOP ids.
pub const ANCHORS: &[Anchor] = &[
    Anchor {
        concept_id: 201820,
        name: "Diabetes mellitus",
        domain: Domain::Condition,
        vocabulary_id: "SNOMED",
        concept_class_id: "Clinical Finding",
        code: "73211009",
        synonyms: &["Diabetes", "DM - Diabetes mellitus"],
        parent: None,
    },
    Anchor {
        concept_id: 201826,
        name: "Type 2 diabetes mellitus",
        domain: Domain::Condition,
        vocabulary_id: "SNOMED",
        concept_class_id: "Clinical Finding",
        code: "44054006",
        synonyms: &[
            "Type II diabetes mellitus",
            "T2DM - Type 2 diabetes mellitus",
            "Adult-onset diabetes",
        ],
        parent: Some(201820),
    },
    Anchor {
        concept_id: 316866,
        name: "Hypertensive disorder",
        domain: Domain::Condition,
        vocabulary_id: "SNOMED",
        concept_class_id: "Clinical Finding",
        code: "38341003",
        synonyms: &["High blood pressure", "HBP - High blood pressure"],
        parent: None,
    },
    Anchor {
        concept_id: 320128,
        name: "Essential hypertension",
        domain: Domain::Condition,
        vocabulary_id: "SNOMED",
        concept_class_id: "Clinical Finding",
        code: "59621000",
        synonyms: &["Primary hypertension", "Idiopathic hypertension"],
        parent: Some(316866),
    },
    Anchor {
        concept_id: 46271022,
        name: "Chronic kidney disease",
        domain: Domain::Condition,
        vocabulary_id: "SNOMED",
        concept_class_id: "Clinical Finding",
        code: "709044004",
        synonyms: &["CKD - Chronic kidney disease", "Chronic renal disease"],
        parent: None,
    },
    Anchor {
        concept_id: 436676,
        name: "Posttraumatic stress disorder",
        domain: Domain::Condition,
        vocabulary_id: "SNOMED",
        concept_class_id: "Clinical Finding",
        code: "47505003",
        synonyms: &[
            "PTSD - Post-traumatic stress disorder",
            "Post-traumatic stress disorder",
        ],
        parent: None,
    },
    Anchor {
        concept_id: 440383,
        name: "Depressive disorder",
        domain: Domain::Condition,
        vocabulary_id: "SNOMED",
        concept_class_id: "Clinical Finding",
        code: "35489007",
        synonyms: &["Depression", "Depressive illness"],
        parent: None,
    },
    Anchor {
        concept_id: 1503297,
        name: "metformin",
        domain: Domain::Drug,
        vocabulary_id: "RxNorm",
        concept_class_id: "Ingredient",
        code: "6809",
        synonyms: &["Metformin hydrochloride"],
        parent: None,
    },
    Anchor {
        concept_id: 1596977,
        name: "insulin, regular, human",
        domain: Domain::Drug,
        vocabulary_id: "RxNorm",
        concept_class_id: "Ingredient",
        code: "253182",
        synonyms: &["Human insulin", "Regular insulin"],
        parent: None,
    },
    Anchor {
        concept_id: 3004410,
        name: "Hemoglobin A1c/Hemoglobin.total in Blood",
        domain: Domain::Measurement,
        vocabulary_id: "LOINC",
        concept_class_id: "Lab Test",
        code: "4548-4",
        synonyms: &["HbA1c", "Glycated hemoglobin", "Hemoglobin A1c"],
        parent: None,
    },
    Anchor {
        concept_id: 3038553,
        name: "Body mass index (BMI) [Ratio]",
        domain: Domain::Measurement,
        vocabulary_id: "LOINC",
        concept_class_id: "Clinical Observation",
        code: "39156-5",
        synonyms: &["BMI", "Quetelet index"],
        parent: None,
    },
    Anchor {
        concept_id: 3028437,
        name: "Cholesterol in LDL [Mass/volume] in Serum or Plasma",
        domain: Domain::Measurement,
        vocabulary_id: "LOINC",
        concept_class_id: "Lab Test",
        code: "2089-1",
        synonyms: &["LDL cholesterol", "LDL-C"],
        parent: None,
    },
    Anchor {
        concept_id: 3004249,
        name: "Systolic blood pressure",
        domain: Domain::Measurement,
        vocabulary_id: "LOINC",
        concept_class_id: "Clinical Observation",
        code: "8480-6",
        synonyms: &[
            "SBP - Systolic blood pressure",
            "Systolic arterial pressure",
        ],
        parent: None,
    },
];

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VocabularyConfig {
    pub seed: u64,
    /// Synthetic concepts per domain (the root included).
    pub concepts_per_domain: usize,
    /// Per mille of concepts that get a second parent.
    pub second_parent_per_mille: u64,
}

impl Default for VocabularyConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            concepts_per_domain: 10_000,
            second_parent_per_mille: 150,
        }
    }
}

/// The generated vocabulary: concepts and their direct parent links (`concept_relationship`'s
/// "Is a" edges, child → parent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    pub concepts: Vec<Concept>,
    /// `(child, parent)` concept ids.
    pub is_a: Vec<(i64, i64)>,
    /// `(concept id, synonym)`: `concept_synonym`.
    pub synonyms: Vec<(i64, String)>,
}

/// One row of `concept_ancestor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AncestorRow {
    pub ancestor: i64,
    pub descendant: i64,
    pub min_levels: u32,
    pub max_levels: u32,
}

const PREFIXES: &[&str] = &[
    "cardio",
    "neuro",
    "nephro",
    "hepato",
    "gastro",
    "derma",
    "osteo",
    "pulmo",
    "hemo",
    "endo",
    "myo",
    "arthro",
    "angio",
    "cysto",
    "encephalo",
    "retino",
    "oto",
    "laryngo",
    "spleno",
    "thyro",
];
const ROOTS: &[&str] = &[
    "pathy",
    "itis",
    "osis",
    "algia",
    "plasia",
    "trophy",
    "sclerosis",
    "emia",
    "lysis",
    "megaly",
];
const QUALIFIERS: &[&str] = &[
    "Acute",
    "Chronic",
    "Congenital",
    "Secondary",
    "Primary",
    "Recurrent",
    "Bilateral",
    "Idiopathic",
    "Early-onset",
    "Late-onset",
];
const SITES: &[&str] = &[
    "left knee",
    "right knee",
    "kidney",
    "liver",
    "lung",
    "skin",
    "colon",
    "heart",
    "retina",
    "thyroid gland",
    "spine",
    "pancreas",
    "bladder",
    "brain",
    "spleen",
];
const DRUG_SYLLABLES: &[&str] = &[
    "zo", "la", "pri", "vor", "mex", "ta", "lin", "do", "ca", "ni", "sar", "te", "ro", "fen", "bu",
    "mi",
];
const DRUG_SUFFIXES: &[&str] = &[
    "pril", "sartan", "statin", "olol", "mab", "cillin", "zole", "tidine", "pine", "gliptin",
];
const DRUG_FORMS: &[&str] = &[
    "10 MG Oral Tablet",
    "25 MG Oral Tablet",
    "50 MG Oral Capsule",
    "100 MG/ML Injectable Solution",
    "5 MG/ML Oral Solution",
    "0.5 MG/ACTUAT Inhalant Solution",
];
const ANALYTES: &[&str] = &[
    "Albumin",
    "Bilirubin",
    "Calcium",
    "Creatinine",
    "Ferritin",
    "Glucose",
    "Lactate",
    "Magnesium",
    "Potassium",
    "Sodium",
    "Troponin",
    "Urea nitrogen",
    "Vitamin D",
    "Zinc",
    "Phosphate",
];
const SPECIMENS: &[&str] = &[
    "[Mass/volume] in Serum or Plasma",
    "[Moles/volume] in Blood",
    "[Mass/volume] in Urine",
    "[Presence] in Cerebral spinal fluid",
];
const PROCEDURE_ACTIONS: &[&str] = &[
    "Excision",
    "Repair",
    "Biopsy",
    "Imaging",
    "Resection",
    "Endoscopy",
    "Injection",
    "Drainage",
];
fn pick<'a>(list: &[&'a str], r: &mut crate::rng::Rng) -> &'a str {
    list[r.below(list.len() as u64) as usize]
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

const DEVICES: &[&str] = &[
    "Catheter",
    "Stent",
    "Glucose monitor",
    "Infusion pump",
    "Orthopedic implant",
    "Hearing aid",
    "Compression stocking",
    "Nebulizer",
];
const OBSERVABLES: &[&str] = &[
    "History of",
    "Family history of",
    "Screening for",
    "Risk of",
    "Suspected",
];

/// A generated concept's name, class and (for some) a synonym.
struct Named {
    name: String,
    class: &'static str,
    synonym: Option<String>,
}

/// A name for synthetic concept `n` of `domain`, from the morpheme grammar. `n` is part of the
/// name (as a variant number where needed) so names are unique within a domain.
fn synthetic_name(domain: Domain, r: &mut crate::rng::Rng, n: usize) -> Named {
    let synonym_wanted = r.chance(0.2);
    let (name, class, synonym) = match domain {
        Domain::Condition => {
            let disease = format!("{}{}", pick(PREFIXES, r), pick(ROOTS, r));
            let site = pick(SITES, r);
            let name = if r.chance(0.5) {
                format!("{} {} of {}", pick(QUALIFIERS, r), disease, site)
            } else {
                format!("{} of {}", capitalise(&disease), site)
            };
            (
                format!("{name} (variant {n})"),
                "Clinical Finding",
                format!("{} {disease} (variant {n})", capitalise(site)),
            )
        }
        Domain::Drug => {
            let stem: String = (0..2).map(|_| pick(DRUG_SYLLABLES, r)).collect();
            let ingredient = format!("{stem}{}", pick(DRUG_SUFFIXES, r));
            if r.chance(0.3) {
                (
                    format!("{ingredient} {n}"),
                    "Ingredient",
                    format!("{} {n}", ingredient.to_uppercase()),
                )
            } else {
                let form = pick(DRUG_FORMS, r);
                (
                    format!("{ingredient} {form} [{n}]"),
                    "Clinical Drug",
                    format!("{} ({ingredient}) [{n}]", form.to_lowercase()),
                )
            }
        }
        Domain::Measurement => {
            let analyte = pick(ANALYTES, r);
            let specimen = pick(SPECIMENS, r);
            (
                format!("{analyte} {specimen} (panel item {n})"),
                "Lab Test",
                format!("{analyte} level (panel item {n})"),
            )
        }
        Domain::Procedure => {
            let action = pick(PROCEDURE_ACTIONS, r);
            let site = pick(SITES, r);
            (
                format!("{action} of {site} (technique {n})"),
                "Procedure",
                format!(
                    "{} {} (technique {n})",
                    capitalise(site),
                    action.to_lowercase()
                ),
            )
        }
        Domain::Observation => {
            let disease = format!("{}{}", pick(PREFIXES, r), pick(ROOTS, r));
            let what = pick(OBSERVABLES, r);
            (
                format!("{what} {disease} (finding {n})"),
                "Observable Entity",
                format!(
                    "{} - {} (finding {n})",
                    capitalise(&disease),
                    what.to_lowercase()
                ),
            )
        }
        _ => {
            let device = pick(DEVICES, r);
            let site = pick(SITES, r);
            (
                format!("{device} for {site} (model {n})"),
                "Physical Object",
                format!("{} {} (model {n})", capitalise(site), device.to_lowercase()),
            )
        }
    };
    Named {
        name,
        class,
        synonym: synonym_wanted.then_some(synonym),
    }
}

/// Survey concepts (modules, questions and answers, PPI-style) start here.
pub const SURVEY_ID_BASE: i64 = SYNTHETIC_ID_BASE + 9 * DOMAIN_ID_SPAN;

/// A survey module with its questions; each question has its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Survey {
    pub name: &'static str,
    pub code: &'static str,
    pub questions: &'static [Question],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    pub code: &'static str,
    pub text: &'static str,
    pub answers: &'static [&'static str],
}

/// The participant surveys: everyone answers The Basics at enrolment; most answer the others.
pub const SURVEYS: &[Survey] = &[
    Survey {
        name: "The Basics",
        code: "TheBasics",
        questions: &[
            Question {
                code: "BiologicalSexAtBirth_SexAtBirth",
                text: "What was your biological sex assigned at birth?",
                answers: &["Female", "Male", "Intersex", "Prefer not to answer"],
            },
            Question {
                code: "Race_WhatRaceEthnicity",
                text: "Which categories describe you?",
                answers: &[
                    "White",
                    "Black, African American, or African",
                    "Hispanic, Latino, or Spanish",
                    "Asian",
                    "None of these fully describe me",
                    "Prefer not to answer",
                ],
            },
            Question {
                code: "EducationLevel_HighestGrade",
                text: "What is the highest grade or year of school you completed?",
                answers: &[
                    "Never attended school or only attended kindergarten",
                    "Grades 1 through 11",
                    "Grade 12 or GED (High school graduate)",
                    "1 to 3 years (Some college or technical school)",
                    "College graduate (4 years or more)",
                    "Advanced degree (Master's, Doctorate, etc.)",
                    "Prefer not to answer",
                ],
            },
            Question {
                code: "Income_AnnualIncome",
                text: "What is your annual household income from all sources?",
                answers: &[
                    "Less than $25,000",
                    "$25,000 - $49,999",
                    "$50,000 - $99,999",
                    "$100,000 - $149,999",
                    "$150,000 or more",
                    "Prefer not to answer",
                ],
            },
            Question {
                code: "Insurance_HealthInsurance",
                text: "Are you covered by any kind of health insurance or health care plan?",
                answers: &["Yes", "No", "Prefer not to answer"],
            },
        ],
    },
    Survey {
        name: "Lifestyle",
        code: "Lifestyle",
        questions: &[
            Question {
                code: "Smoking_100CigsLifetime",
                text: "Have you smoked at least 100 cigarettes in your entire life?",
                answers: &["Yes", "No", "Prefer not to answer"],
            },
            Question {
                code: "Alcohol_DrinkFrequencyPastYear",
                text: "In the past year, how often did you have a drink containing alcohol?",
                answers: &[
                    "Never",
                    "Monthly or less",
                    "2 to 4 times a month",
                    "2 to 3 times a week",
                    "4 or more times a week",
                    "Prefer not to answer",
                ],
            },
            Question {
                code: "Exercise_DaysPerWeek",
                text: "On how many days a week do you do at least 30 minutes of physical activity?",
                answers: &["0 days", "1 to 2 days", "3 to 4 days", "5 or more days"],
            },
        ],
    },
    Survey {
        name: "Overall Health",
        code: "OverallHealth",
        questions: &[
            Question {
                code: "OverallHealth_GeneralHealth",
                text: "In general, would you say your health is:",
                answers: &["Excellent", "Very good", "Good", "Fair", "Poor"],
            },
            Question {
                code: "OverallHealth_OrganTransplant",
                text: "Have you ever received an organ transplant?",
                answers: &["Yes", "No", "Prefer not to answer"],
            },
        ],
    },
];

/// The concept ids of survey `m`, its question `q` and answer `a` (all 0-based).
pub fn survey_module_id(m: usize) -> i64 {
    SURVEY_ID_BASE + m as i64 * 10_000
}
pub fn survey_question_id(m: usize, q: usize) -> i64 {
    survey_module_id(m) + (q as i64 + 1) * 100
}
pub fn survey_answer_id(m: usize, q: usize, a: usize) -> i64 {
    survey_question_id(m, q) + a as i64 + 1
}

/// Generates the vocabulary. The same configuration always gives the same vocabulary.
pub fn generate(cfg: &VocabularyConfig) -> Vocabulary {
    let mut concepts = Vec::new();
    let mut is_a = Vec::new();
    let mut synonyms = Vec::new();
    for (d, domain) in Domain::ALL.into_iter().enumerate() {
        // Ids depend only on (domain, n), so smaller vocabularies are exact prefixes.
        let domain_base = SYNTHETIC_ID_BASE + d as i64 * DOMAIN_ID_SPAN;
        let stream = Stream::new(cfg.seed, &format!("vocabulary/{}", domain.id()));
        let mut ids: Vec<i64> = Vec::with_capacity(cfg.concepts_per_domain);
        for n in 0..cfg.concepts_per_domain.max(1) {
            let mut r = stream.at(n as u64);
            let id = domain_base + n as i64;
            let named = if n == 0 {
                Named {
                    name: domain.root_name().to_owned(),
                    class: "Root",
                    synonym: None,
                }
            } else {
                synthetic_name(domain, &mut r, n)
            };
            if let Some(syn) = named.synonym {
                synonyms.push((id, syn));
            }
            concepts.push(Concept {
                concept_id: id,
                concept_name: named.name,
                domain,
                vocabulary_id: "WB Synthetic",
                concept_class_id: named.class,
                standard: true,
                concept_code: format!("WB-{}-{n:07}", domain.code_prefix()),
            });
            if n > 0 {
                let parent = ids[r.below(n as u64) as usize];
                is_a.push((id, parent));
                if n > 1 && r.below(1000) < cfg.second_parent_per_mille {
                    let other = ids[r.below(n as u64) as usize];
                    if other != parent {
                        is_a.push((id, other));
                    }
                }
            }
            ids.push(id);
        }
        // The anchors of this domain: under their anchor parent, or the domain's root.
        for a in ANCHORS.iter().filter(|a| a.domain == domain) {
            concepts.push(Concept {
                concept_id: a.concept_id,
                concept_name: a.name.to_owned(),
                domain,
                vocabulary_id: a.vocabulary_id,
                concept_class_id: a.concept_class_id,
                standard: true,
                concept_code: a.code.to_owned(),
            });
            synonyms.extend(a.synonyms.iter().map(|s| (a.concept_id, (*s).to_owned())));
            let parent = a.parent.unwrap_or(ids[0]);
            is_a.push((a.concept_id, parent));
        }
    }
    for f in FIXED {
        concepts.push(Concept {
            concept_id: f.concept_id,
            concept_name: f.name.to_owned(),
            domain: f.domain,
            vocabulary_id: f.vocabulary_id,
            concept_class_id: f.concept_class_id,
            standard: true,
            concept_code: f.code.to_owned(),
        });
    }
    // Surveys: module → question → answer, in the Observation domain (as PPI is).
    for (m, survey) in SURVEYS.iter().enumerate() {
        let module = survey_module_id(m);
        concepts.push(Concept {
            concept_id: module,
            concept_name: survey.name.to_owned(),
            domain: Domain::Observation,
            vocabulary_id: "WB Survey",
            concept_class_id: "Module",
            standard: true,
            concept_code: survey.code.to_owned(),
        });
        for (q, question) in survey.questions.iter().enumerate() {
            let qid = survey_question_id(m, q);
            concepts.push(Concept {
                concept_id: qid,
                concept_name: question.text.to_owned(),
                domain: Domain::Observation,
                vocabulary_id: "WB Survey",
                concept_class_id: "Question",
                standard: true,
                concept_code: question.code.to_owned(),
            });
            is_a.push((qid, module));
            for (a, answer) in question.answers.iter().enumerate() {
                let aid = survey_answer_id(m, q, a);
                concepts.push(Concept {
                    concept_id: aid,
                    concept_name: format!("{}: {answer}", question.code),
                    domain: Domain::Observation,
                    vocabulary_id: "WB Survey",
                    concept_class_id: "Answer",
                    standard: true,
                    concept_code: format!("{}_{}", question.code, a + 1),
                });
                synonyms.push((aid, (*answer).to_owned()));
                is_a.push((aid, qid));
            }
        }
    }
    Vocabulary {
        concepts,
        is_a,
        synonyms,
    }
}

impl Vocabulary {
    /// The `concept_ancestor` closure: one row per (ancestor, descendant) pair, each concept
    /// its own ancestor at level 0 (as OMOP does), with the shortest and longest path lengths.
    pub fn ancestors(&self) -> Vec<AncestorRow> {
        let mut parents: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (c, p) in &self.is_a {
            parents.entry(*c).or_default().push(*p);
        }
        // Memoised walk up the DAG; concepts are visited so that parents are resolved first.
        let mut closure: BTreeMap<i64, BTreeMap<i64, (u32, u32)>> = BTreeMap::new();
        fn resolve(
            id: i64,
            parents: &BTreeMap<i64, Vec<i64>>,
            closure: &mut BTreeMap<i64, BTreeMap<i64, (u32, u32)>>,
        ) {
            if closure.contains_key(&id) {
                return;
            }
            let mut mine: BTreeMap<i64, (u32, u32)> = BTreeMap::new();
            mine.insert(id, (0, 0));
            for p in parents.get(&id).map(Vec::as_slice).unwrap_or(&[]) {
                resolve(*p, parents, closure);
                for (a, (lo, hi)) in &closure[p] {
                    let e = mine.entry(*a).or_insert((u32::MAX, 0));
                    e.0 = e.0.min(lo + 1);
                    e.1 = e.1.max(hi + 1);
                }
            }
            closure.insert(id, mine);
        }
        for c in &self.concepts {
            resolve(c.concept_id, &parents, &mut closure);
        }
        let mut rows: Vec<AncestorRow> = closure
            .into_iter()
            .flat_map(|(d, anc)| {
                anc.into_iter().map(move |(a, (lo, hi))| AncestorRow {
                    ancestor: a,
                    descendant: d,
                    min_levels: lo,
                    max_levels: hi,
                })
            })
            .collect();
        rows.sort();
        rows
    }

    pub fn concept(&self, id: i64) -> Option<&Concept> {
        self.concepts.iter().find(|c| c.concept_id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn small() -> Vocabulary {
        generate(&VocabularyConfig {
            seed: 7,
            concepts_per_domain: 2_000,
            second_parent_per_mille: 150,
        })
    }

    #[test]
    fn generation_is_deterministic_and_seed_dependent() {
        assert_eq!(small(), small());
        let other = generate(&VocabularyConfig {
            seed: 8,
            concepts_per_domain: 2_000,
            second_parent_per_mille: 150,
        });
        assert_ne!(small().concepts, other.concepts);
    }

    #[test]
    fn smaller_vocabularies_are_prefixes_per_domain() {
        let big = generate(&VocabularyConfig {
            seed: 7,
            concepts_per_domain: 3_000,
            ..Default::default()
        });
        let little = generate(&VocabularyConfig {
            seed: 7,
            concepts_per_domain: 1_000,
            ..Default::default()
        });
        let big_names: HashSet<(&str, &str)> = big
            .concepts
            .iter()
            .map(|c| (c.concept_code.as_str(), c.concept_name.as_str()))
            .collect();
        for c in &little.concepts {
            assert!(
                big_names.contains(&(c.concept_code.as_str(), c.concept_name.as_str())),
                "{}",
                c.concept_code
            );
        }
    }

    #[test]
    fn ids_codes_and_names_are_unique_and_anchors_keep_their_public_ids() {
        let v = small();
        let ids: HashSet<i64> = v.concepts.iter().map(|c| c.concept_id).collect();
        assert_eq!(ids.len(), v.concepts.len());
        let names: HashSet<(Domain, &str)> = v
            .concepts
            .iter()
            .map(|c| (c.domain, c.concept_name.as_str()))
            .collect();
        assert_eq!(names.len(), v.concepts.len());
        let t2dm = v.concept(201826).unwrap();
        assert_eq!(t2dm.concept_name, "Type 2 diabetes mellitus");
        assert_eq!(
            (t2dm.domain, t2dm.vocabulary_id, t2dm.concept_code.as_str()),
            (Domain::Condition, "SNOMED", "44054006")
        );
        assert_eq!(v.concept(1503297).unwrap().domain, Domain::Drug);
        assert_eq!(v.concept(3004410).unwrap().vocabulary_id, "LOINC");
        assert!(
            v.concepts
                .iter()
                .filter(|c| (SYNTHETIC_ID_BASE..SURVEY_ID_BASE).contains(&c.concept_id))
                .count()
                == Domain::ALL.len() * 2_000
        );
    }

    #[test]
    fn hierarchy_is_a_deep_dag_with_shared_parents() {
        let v = small();
        let ancestors = v.ancestors();
        // Every concept is its own ancestor; min <= max everywhere.
        for c in &v.concepts {
            assert!(
                ancestors
                    .binary_search(&AncestorRow {
                        ancestor: c.concept_id,
                        descendant: c.concept_id,
                        min_levels: 0,
                        max_levels: 0
                    })
                    .is_ok()
            );
        }
        assert!(ancestors.iter().all(|r| r.min_levels <= r.max_levels));
        // Each domain's root reaches all of the domain's concepts.
        for (i, domain) in Domain::ALL.iter().enumerate() {
            let root = SYNTHETIC_ID_BASE + i as i64 * DOMAIN_ID_SPAN;
            let reached = ancestors.iter().filter(|r| r.ancestor == root).count();
            let in_domain = v
                .concepts
                .iter()
                .filter(|c| c.domain == *domain && c.concept_id < SURVEY_ID_BASE)
                .count();
            assert_eq!(reached, in_domain, "{domain:?}");
        }
        let depth = ancestors.iter().map(|r| r.max_levels).max().unwrap();
        assert!(depth >= 8, "hierarchy depth {depth}");
        let mut parent_count: std::collections::HashMap<i64, usize> = Default::default();
        for (c, _) in &v.is_a {
            *parent_count.entry(*c).or_default() += 1;
        }
        let two_parents = parent_count.values().filter(|n| **n > 1).count();
        assert!(two_parents > 100, "{two_parents} second parents");
        // Type 2 diabetes rolls up to diabetes mellitus and to the condition root.
        assert!(
            ancestors
                .iter()
                .any(|r| r.ancestor == 201820 && r.descendant == 201826 && r.min_levels == 1)
        );
        assert!(
            ancestors
                .iter()
                .any(|r| r.ancestor == SYNTHETIC_ID_BASE && r.descendant == 201826)
        );
    }
}
