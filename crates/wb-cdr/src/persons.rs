//! Synthetic participants: demographics close to the program's published marginals, each
//! person a pure function of `(seed, person index)`, so the first N persons of any scale are
//! the same people.
//!
//! Marginals (performance.md §5.2, after Kathiresan et al. 2023): sex at birth 61.6% female,
//! 38.3% male, 0.1% other; race/ethnicity 57.3% non-Hispanic White, 20.5% non-Hispanic Black,
//! 16.3% Hispanic, 3.5% non-Hispanic Asian, 2.4% other or multiple; age at consent ~N(53, 17)
//! for women and ~N(57, 17) for men, truncated to 18–90.

use crate::rng::Stream;

/// OMOP gender concepts.
pub const FEMALE: i64 = 8532;
pub const MALE: i64 = 8507;
/// "No matching concept", used for other / unknown.
pub const NO_MATCHING_CONCEPT: i64 = 0;
/// OMOP race concepts.
pub const WHITE: i64 = 8527;
pub const BLACK: i64 = 8516;
pub const ASIAN: i64 = 8515;
/// OMOP ethnicity concepts.
pub const HISPANIC: i64 = 38003563;
pub const NOT_HISPANIC: i64 = 38003564;

/// One row of `person` (the columns the workbench uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person {
    pub person_id: i64,
    pub gender_concept_id: i64,
    pub year_of_birth: i32,
    pub month_of_birth: u32,
    pub day_of_birth: u32,
    pub race_concept_id: i64,
    pub ethnicity_concept_id: i64,
    /// Age at consent, years.
    pub age_at_consent: u32,
    /// Whether the person shared electronic health records.
    pub has_ehr: bool,
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PersonConfig {
    pub seed: u64,
    /// The year consents are dated in (the CDR's cutoff year).
    pub cutoff_year: i32,
    /// Share of persons with electronic health records.
    pub ehr_share: f64,
}

impl Default for PersonConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            cutoff_year: 2025,
            ehr_share: 0.65,
        }
    }
}

/// Person `index` (0-based; `person_id = index + 1`).
pub fn person(cfg: &PersonConfig, index: u64) -> Person {
    let mut r = Stream::new(cfg.seed, "person").at(index);
    let s = r.unit();
    let gender = if s < 0.616 {
        FEMALE
    } else if s < 0.999 {
        MALE
    } else {
        NO_MATCHING_CONCEPT
    };
    let (race, ethnicity) = {
        let x = r.unit();
        if x < 0.573 {
            (WHITE, NOT_HISPANIC)
        } else if x < 0.573 + 0.205 {
            (BLACK, NOT_HISPANIC)
        } else if x < 0.573 + 0.205 + 0.163 {
            (NO_MATCHING_CONCEPT, HISPANIC)
        } else if x < 0.573 + 0.205 + 0.163 + 0.035 {
            (ASIAN, NOT_HISPANIC)
        } else {
            (NO_MATCHING_CONCEPT, NOT_HISPANIC)
        }
    };
    let mean = if gender == MALE { 57.0 } else { 53.0 };
    let mut age = mean + 17.0 * r.normal();
    // Truncate by redrawing a bounded number of times, then clamp.
    for _ in 0..8 {
        if (18.0..=90.0).contains(&age) {
            break;
        }
        age = mean + 17.0 * r.normal();
    }
    let age = age.clamp(18.0, 90.0).floor() as u32;
    let month = 1 + r.below(12) as u32;
    let day = 1 + r.below(28) as u32;
    Person {
        person_id: index as i64 + 1,
        gender_concept_id: gender,
        year_of_birth: cfg.cutoff_year - 1 - age as i32,
        month_of_birth: month,
        day_of_birth: day,
        race_concept_id: race,
        ethnicity_concept_id: ethnicity,
        age_at_consent: age,
        has_ehr: r.chance(cfg.ehr_share),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn marginals_are_close_to_the_programs() {
        let cfg = PersonConfig::default();
        let n = 50_000u64;
        let people: Vec<Person> = (0..n).map(|i| person(&cfg, i)).collect();
        let share =
            |f: &dyn Fn(&Person) -> bool| people.iter().filter(|p| f(p)).count() as f64 / n as f64;
        assert!((share(&|p| p.gender_concept_id == FEMALE) - 0.616).abs() < 0.01);
        assert!((share(&|p| p.race_concept_id == WHITE) - 0.573).abs() < 0.01);
        assert!((share(&|p| p.race_concept_id == BLACK) - 0.205).abs() < 0.01);
        assert!((share(&|p| p.ethnicity_concept_id == HISPANIC) - 0.163).abs() < 0.01);
        assert!((share(&|p| p.has_ehr) - 0.65).abs() < 0.01);
        let mean_age_f = people
            .iter()
            .filter(|p| p.gender_concept_id == FEMALE)
            .map(|p| f64::from(p.age_at_consent))
            .sum::<f64>()
            / people
                .iter()
                .filter(|p| p.gender_concept_id == FEMALE)
                .count() as f64;
        assert!(
            (mean_age_f - 53.0).abs() < 1.5,
            "mean female age {mean_age_f}"
        );
    }

    proptest! {
        /// A person depends only on the seed and its index: scales are exact prefixes.
        #[test]
        fn persons_are_pure_functions_of_seed_and_index(seed in any::<u64>(), i in 0u64..10_000_000) {
            let cfg = PersonConfig { seed, ..Default::default() };
            prop_assert_eq!(person(&cfg, i), person(&cfg, i));
            let p = person(&cfg, i);
            prop_assert!((18..=90).contains(&p.age_at_consent));
            prop_assert!((1..=12).contains(&p.month_of_birth) && (1..=28).contains(&p.day_of_birth));
            prop_assert_eq!(p.person_id, i as i64 + 1);
        }
    }
}
