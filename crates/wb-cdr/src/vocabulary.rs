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

/// The OMOP domains the generator fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Domain {
    Condition,
    Drug,
    Measurement,
    Procedure,
    Observation,
}

impl Domain {
    pub const ALL: [Domain; 5] = [
        Domain::Condition,
        Domain::Drug,
        Domain::Measurement,
        Domain::Procedure,
        Domain::Observation,
    ];

    /// The OMOP `domain_id`.
    pub fn id(self) -> &'static str {
        match self {
            Domain::Condition => "Condition",
            Domain::Drug => "Drug",
            Domain::Measurement => "Measurement",
            Domain::Procedure => "Procedure",
            Domain::Observation => "Observation",
        }
    }

    fn code_prefix(self) -> &'static str {
        match self {
            Domain::Condition => "C",
            Domain::Drug => "D",
            Domain::Measurement => "M",
            Domain::Procedure => "P",
            Domain::Observation => "O",
        }
    }

    fn root_name(self) -> &'static str {
        match self {
            Domain::Condition => "Clinical finding",
            Domain::Drug => "Drug product",
            Domain::Measurement => "Laboratory and clinical measurement",
            Domain::Procedure => "Procedure",
            Domain::Observation => "Observation and survey answer",
        }
    }
}

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
        parent: None,
    },
    Anchor {
        concept_id: 201826,
        name: "Type 2 diabetes mellitus",
        domain: Domain::Condition,
        vocabulary_id: "SNOMED",
        concept_class_id: "Clinical Finding",
        code: "44054006",
        parent: Some(201820),
    },
    Anchor {
        concept_id: 316866,
        name: "Hypertensive disorder",
        domain: Domain::Condition,
        vocabulary_id: "SNOMED",
        concept_class_id: "Clinical Finding",
        code: "38341003",
        parent: None,
    },
    Anchor {
        concept_id: 320128,
        name: "Essential hypertension",
        domain: Domain::Condition,
        vocabulary_id: "SNOMED",
        concept_class_id: "Clinical Finding",
        code: "59621000",
        parent: Some(316866),
    },
    Anchor {
        concept_id: 46271022,
        name: "Chronic kidney disease",
        domain: Domain::Condition,
        vocabulary_id: "SNOMED",
        concept_class_id: "Clinical Finding",
        code: "709044004",
        parent: None,
    },
    Anchor {
        concept_id: 436676,
        name: "Posttraumatic stress disorder",
        domain: Domain::Condition,
        vocabulary_id: "SNOMED",
        concept_class_id: "Clinical Finding",
        code: "47505003",
        parent: None,
    },
    Anchor {
        concept_id: 440383,
        name: "Depressive disorder",
        domain: Domain::Condition,
        vocabulary_id: "SNOMED",
        concept_class_id: "Clinical Finding",
        code: "35489007",
        parent: None,
    },
    Anchor {
        concept_id: 1503297,
        name: "metformin",
        domain: Domain::Drug,
        vocabulary_id: "RxNorm",
        concept_class_id: "Ingredient",
        code: "6809",
        parent: None,
    },
    Anchor {
        concept_id: 1596977,
        name: "insulin, regular, human",
        domain: Domain::Drug,
        vocabulary_id: "RxNorm",
        concept_class_id: "Ingredient",
        code: "253182",
        parent: None,
    },
    Anchor {
        concept_id: 3004410,
        name: "Hemoglobin A1c/Hemoglobin.total in Blood",
        domain: Domain::Measurement,
        vocabulary_id: "LOINC",
        concept_class_id: "Lab Test",
        code: "4548-4",
        parent: None,
    },
    Anchor {
        concept_id: 3038553,
        name: "Body mass index (BMI) [Ratio]",
        domain: Domain::Measurement,
        vocabulary_id: "LOINC",
        concept_class_id: "Clinical Observation",
        code: "39156-5",
        parent: None,
    },
    Anchor {
        concept_id: 3028437,
        name: "Cholesterol in LDL [Mass/volume] in Serum or Plasma",
        domain: Domain::Measurement,
        vocabulary_id: "LOINC",
        concept_class_id: "Lab Test",
        code: "2089-1",
        parent: None,
    },
    Anchor {
        concept_id: 3004249,
        name: "Systolic blood pressure",
        domain: Domain::Measurement,
        vocabulary_id: "LOINC",
        concept_class_id: "Clinical Observation",
        code: "8480-6",
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
const SURVEY_TOPICS: &[&str] = &[
    "Lifestyle",
    "Overall Health",
    "The Basics",
    "Sleep",
    "Diet",
    "Physical activity",
    "Alcohol use",
    "Smoking",
    "Family health history",
];
const SURVEY_ANSWERS: &[&str] = &[
    "Never",
    "Rarely",
    "Sometimes",
    "Often",
    "Always",
    "Prefer not to answer",
    "Excellent",
    "Very good",
    "Good",
    "Fair",
    "Poor",
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

/// A name for synthetic concept `n` of `domain`, from the morpheme grammar. `n` is part of the
/// name (as a variant number where needed) so names are unique within a domain.
fn synthetic_name(domain: Domain, r: &mut crate::rng::Rng, n: usize) -> (String, &'static str) {
    match domain {
        Domain::Condition => {
            let disease = format!("{}{}", pick(PREFIXES, r), pick(ROOTS, r));
            let name = if r.chance(0.5) {
                format!("{} {} of {}", pick(QUALIFIERS, r), disease, pick(SITES, r))
            } else {
                format!("{} of {}", capitalise(&disease), pick(SITES, r))
            };
            (format!("{name} (variant {n})"), "Clinical Finding")
        }
        Domain::Drug => {
            let stem: String = (0..2).map(|_| pick(DRUG_SYLLABLES, r)).collect();
            let ingredient = format!("{stem}{}", pick(DRUG_SUFFIXES, r));
            if r.chance(0.3) {
                (format!("{ingredient} {n}"), "Ingredient")
            } else {
                (
                    format!("{ingredient} {} [{n}]", pick(DRUG_FORMS, r)),
                    "Clinical Drug",
                )
            }
        }
        Domain::Measurement => (
            format!(
                "{} {} (panel item {n})",
                pick(ANALYTES, r),
                pick(SPECIMENS, r)
            ),
            "Lab Test",
        ),
        Domain::Procedure => (
            format!(
                "{} of {} (technique {n})",
                pick(PROCEDURE_ACTIONS, r),
                pick(SITES, r)
            ),
            "Procedure",
        ),
        Domain::Observation => (
            format!(
                "{}: question {n}: {}",
                pick(SURVEY_TOPICS, r),
                pick(SURVEY_ANSWERS, r)
            ),
            "Answer",
        ),
    }
}

/// Generates the vocabulary. The same configuration always gives the same vocabulary.
pub fn generate(cfg: &VocabularyConfig) -> Vocabulary {
    let mut concepts = Vec::new();
    let mut is_a = Vec::new();
    for (d, domain) in Domain::ALL.into_iter().enumerate() {
        // Ids depend only on (domain, n), so smaller vocabularies are exact prefixes.
        let domain_base = SYNTHETIC_ID_BASE + d as i64 * DOMAIN_ID_SPAN;
        let stream = Stream::new(cfg.seed, &format!("vocabulary/{}", domain.id()));
        let mut ids: Vec<i64> = Vec::with_capacity(cfg.concepts_per_domain);
        for n in 0..cfg.concepts_per_domain.max(1) {
            let mut r = stream.at(n as u64);
            let id = domain_base + n as i64;
            let (name, class) = if n == 0 {
                (domain.root_name().to_owned(), "Root")
            } else {
                synthetic_name(domain, &mut r, n)
            };
            concepts.push(Concept {
                concept_id: id,
                concept_name: name,
                domain,
                vocabulary_id: "WB Synthetic",
                concept_class_id: class,
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
        // The anchors of this domain: under their anchor parent, or a concept near the root.
        let mut r = stream.at(u64::MAX);
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
            let parent = a
                .parent
                .unwrap_or_else(|| ids[r.below(ids.len().min(20) as u64) as usize]);
            is_a.push((a.concept_id, parent));
        }
    }
    Vocabulary { concepts, is_a }
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
                .filter(|c| c.concept_id >= SYNTHETIC_ID_BASE)
                .count()
                == 5 * 2_000
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
            let in_domain = v.concepts.iter().filter(|c| c.domain == *domain).count();
            assert_eq!(reached, in_domain, "{domain:?}");
        }
        let depth = ancestors.iter().map(|r| r.max_levels).max().unwrap();
        assert!(depth >= 8, "hierarchy depth {depth}");
        let two_parents = v.is_a.len() - (v.concepts.len() - Domain::ALL.len());
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
