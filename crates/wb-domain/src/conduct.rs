//! The Data User Code of Conduct: its text, and the initials a researcher types to agree to
//! each of its statements.
//!
//! A researcher reads [`CURRENT`] and initials every one of its statements. The initials must
//! match the name in the researcher's profile ([`expected_initials`]), which
//! [`check_initials`] verifies before the agreement is recorded with
//! [`CODE_OF_CONDUCT_VERSION`].

use serde::Serialize;

use crate::errors::FieldErrors;

/// The version of the code users agree to now. Raising it makes every earlier agreement
/// outdated.
pub const CODE_OF_CONDUCT_VERSION: i64 = 1;

/// The most letters initials can have.
pub const MAX_INITIALS: usize = 6;

/// One version of the Data User Code of Conduct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CodeOfConduct {
    /// The version an agreement records.
    pub version: i64,
    /// The heading of the page.
    pub title: &'static str,
    /// The full text to read, one paragraph per entry.
    pub paragraphs: &'static [&'static str],
    /// The commitments; the user initials each one.
    pub statements: &'static [&'static str],
    /// What can follow a violation.
    pub consequences: &'static [&'static str],
}

/// The code users agree to now.
pub static CURRENT: CodeOfConduct = CodeOfConduct {
    version: CODE_OF_CONDUCT_VERSION,
    title: "Data User Code of Conduct",
    paragraphs: &[
        "The program exists because participants chose to share their health information so \
         that research could improve health for everyone. This code sets out what every person \
         who uses their data in the Researcher Workbench commits to in return. You agree to it \
         as an individual, in addition to any agreement your institution has signed with the \
         program, and it applies to all of your work with the data, in every workspace and in \
         every access tier.",
        "Participants' data is made available for research only. You will use it for the \
         research purposes you describe in each workspace's research purpose statement, keep \
         those statements accurate as your work changes, and never use the data to make \
         decisions about individual people. You will treat participants and their communities \
         with respect, and take care that your research, and the way you report it, does not \
         stigmatize any group.",
        "The data has been stripped of direct identifiers, but it is still about real people. \
         You will not attempt to learn the identity of any participant or of their relatives, \
         and you will not link the data with other information for that purpose. If you \
         recognize someone by accident, you will not record or share who it is, and you will \
         report it to the program.",
        "Results leave the Researcher Workbench only in aggregate. You will not publish or share \
         any count of 1 to 20 participants, or any figure from which such a count can be derived, \
         in any paper, presentation, message or code repository. Participant-level data stays \
         inside the Researcher Workbench: you will not download it, copy it elsewhere or share \
         it.",
        "Your account is personal. You will not share your login credentials or let anyone else \
         work under your account, you will keep 2-step verification in place, and you will report \
         to the program right away any incident that could put participant data at risk.",
        "The program keeps a record of activity in the Researcher Workbench and may review it, \
         publishes who uses the data and for what, and may act when this code is not followed. \
         Confirm each of the statements below by typing your initials next to it.",
    ],
    statements: &[
        "My work, including any external data, files, or software I upload into the Researcher \
         Workbench, will be logged and may be reviewed.",
        "My name, affiliation, profile information and research description will be made \
         publicly available.",
        "The program retains the discretion to make decisions about my access, including the \
         suspension of my access for violations of this code.",
        "I will not attempt to re-identify participants or their relatives, and I will report to \
         the program any participant I recognize by accident.",
        "I will not publish or share any count of 1 to 20 participants, or any information from \
         which such a count can be derived.",
        "I will not share my login credentials with anyone, and I will not copy, download or \
         share participant-level data outside the Researcher Workbench.",
        "I will use the data only for the research purposes I have stated, and I will keep my \
         research purpose statements accurate.",
    ],
    consequences: &[
        "Suspension or termination of your access to the Researcher Workbench.",
        "Posting of your name and affiliation on a public list of people who have violated this \
         code.",
        "Notification of the agencies that fund your research.",
        "Financial or legal consequences.",
    ],
};

/// The form field for the initials next to statement `index`: `initials_0`, `initials_1`, ….
pub fn initials_field(index: usize) -> String {
    format!("initials_{index}")
}

/// The initials a user with this profile name must type: the first letter of the given name,
/// then the first letter of each part of the family name (parts are separated by spaces or
/// hyphens), upper-cased. Only letters count, and at most [`MAX_INITIALS`] of them are used.
///
/// "Ada" "Lindqvist" gives "AL"; "Mary" "Ortiz-Reyes" gives "MOR".
pub fn expected_initials(given_name: &str, family_name: &str) -> String {
    let first_letter = |part: &str| part.chars().find(|c| c.is_alphabetic());
    first_letter(given_name)
        .into_iter()
        .chain(
            family_name
                .split(|c: char| c.is_whitespace() || c == '-')
                .filter_map(first_letter),
        )
        .take(MAX_INITIALS)
        .flat_map(char::to_uppercase)
        .collect()
}

/// What a user typed, in the form initials are compared in: spaces and dots removed,
/// upper-cased.
pub fn normalize_initials(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.')
        .flat_map(char::to_uppercase)
        .collect()
}

/// Checks the initials typed next to the statements of [`CURRENT`], one entry per statement in
/// order. Each must equal [`expected_initials`] for the profile name, ignoring case, spaces and
/// dots. Returns the normalised initials to record with the agreement.
///
/// Errors are reported on `initials_0`, `initials_1`, … for each entry, or on `initials` when
/// the number of entries is wrong or the profile name has no letters.
pub fn check_initials(
    typed: &[String],
    given_name: &str,
    family_name: &str,
) -> Result<String, FieldErrors> {
    let mut errors = FieldErrors::new();
    let expected = expected_initials(given_name, family_name);
    let count = CURRENT.statements.len();
    if expected.is_empty() {
        errors.add(
            "initials",
            "Your profile name has no letters to form initials from. Correct your name in your \
             profile, then return to the code of conduct.",
        );
        return Err(errors);
    }
    if typed.len() != count {
        errors.add(
            "initials",
            format!("Type your initials next to each of the {count} statements."),
        );
        return Err(errors);
    }
    for (i, entry) in typed.iter().enumerate() {
        let normalized = normalize_initials(entry);
        if normalized.is_empty() {
            errors.add(
                &initials_field(i),
                format!("Enter your initials ({expected}) to agree to this statement."),
            );
        } else if normalized != expected {
            errors.add(
                &initials_field(i),
                format!("Enter your initials as they appear in your profile name ({expected})."),
            );
        }
    }
    errors.into_result(expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(initials: &str) -> Vec<String> {
        vec![initials.to_owned(); CURRENT.statements.len()]
    }

    #[test]
    fn current_code_has_the_required_content() {
        assert_eq!(CURRENT.version, CODE_OF_CONDUCT_VERSION);
        assert!(CURRENT.paragraphs.len() >= 4);
        let s = CURRENT.statements.join(" ");
        for needle in [
            "will be logged and may be reviewed",
            "will be made publicly available",
            "suspension of my access",
            "re-identify",
            "1 to 20 participants",
            "login credentials",
            "outside the Researcher Workbench",
            "research purposes I have stated",
        ] {
            assert!(s.contains(needle), "statements lack {needle:?}");
        }
        let c = CURRENT.consequences.join(" ");
        for needle in ["public list", "fund your research", "Financial or legal"] {
            assert!(c.contains(needle), "consequences lack {needle:?}");
        }
        for text in CURRENT
            .paragraphs
            .iter()
            .chain(CURRENT.statements)
            .chain(CURRENT.consequences)
        {
            assert!(text.ends_with('.') && !text.contains("  "), "{text}");
        }
    }

    #[test]
    fn initials_follow_the_profile_name() {
        assert_eq!(expected_initials("Ada", "Lindqvist"), "AL");
        assert_eq!(expected_initials("Mary", "Ortiz-Reyes"), "MOR");
        assert_eq!(expected_initials("ada", "de la Cruz"), "ADLC");
        assert_eq!(expected_initials("Mary Ann", "Ng"), "MN");
        assert_eq!(expected_initials(" Seán", "O'Brien"), "SO");
        assert_eq!(expected_initials("élodie", "ünal"), "ÉÜ");
        assert_eq!(expected_initials("'Ilima", "Kahale  - Pua"), "IKP");
        assert_eq!(expected_initials("A", "b c d e f g h"), "ABCDEF");
        assert_eq!(expected_initials("", "Lindqvist"), "L");
        assert_eq!(expected_initials("3", "-"), "");
    }

    #[test]
    fn matching_initials_are_accepted_in_any_form() {
        assert_eq!(
            check_initials(&all("AL"), "Ada", "Lindqvist"),
            Ok("AL".to_owned())
        );
        assert_eq!(
            check_initials(&all(" a. l. "), "Ada", "Lindqvist"),
            Ok("AL".to_owned())
        );
        assert_eq!(
            check_initials(&all("m.o.r"), "Mary", "Ortiz-Reyes"),
            Ok("MOR".to_owned())
        );
    }

    #[test]
    fn each_statement_needs_its_own_initials() {
        let mut typed = all("AL");
        typed[1] = String::new();
        typed[3] = "AB".into();
        typed[4] = " . ".into();
        let errs = check_initials(&typed, "Ada", "Lindqvist").unwrap_err();
        assert_eq!(errs.len(), 3);
        assert_eq!(
            errs.get("initials_1"),
            Some("Enter your initials (AL) to agree to this statement.")
        );
        assert_eq!(
            errs.get("initials_3"),
            Some("Enter your initials as they appear in your profile name (AL).")
        );
        assert!(errs.get("initials_4").is_some());
        assert!(errs.get("initials_0").is_none());
    }

    #[test]
    fn the_number_of_entries_must_match_the_statements() {
        let mut typed = all("AL");
        typed.pop();
        let errs = check_initials(&typed, "Ada", "Lindqvist").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(
            errs.get("initials")
                .unwrap()
                .contains("each of the 7 statements")
        );
        typed.push("AL".into());
        typed.push("AL".into());
        assert!(check_initials(&typed, "Ada", "Lindqvist").is_err());
        assert!(check_initials(&[], "Ada", "Lindqvist").is_err());
    }

    #[test]
    fn a_name_without_letters_cannot_sign() {
        let errs = check_initials(&all(""), "1", "2").unwrap_err();
        assert!(errs.get("initials").unwrap().contains("no letters"));
    }

    #[test]
    fn field_names() {
        assert_eq!(initials_field(0), "initials_0");
        assert_eq!(initials_field(6), "initials_6");
    }

    proptest! {
        /// The expected initials are accepted whatever their case, with dots and spaces added.
        #[test]
        fn expected_initials_are_accepted(
            given in "[A-Za-zÀ-ÿ][a-zà-ÿ]{0,8}",
            family in "[A-Za-zÀ-ÿ][a-zà-ÿ]{0,8}([ -][A-Za-zÀ-ÿ][a-zà-ÿ]{0,8}){0,3}",
            upper in proptest::collection::vec(any::<bool>(), 6),
            seps in proptest::collection::vec(
                prop_oneof![Just(""), Just("."), Just(" "), Just(". ")],
                7,
            ),
        ) {
            let expected = expected_initials(&given, &family);
            prop_assert!(!expected.is_empty() && expected.chars().count() <= MAX_INITIALS);
            let mut typed = seps[0].to_owned();
            for ((c, up), sep) in expected.chars().zip(&upper).zip(&seps[1..]) {
                if *up {
                    typed.extend(c.to_uppercase());
                } else {
                    typed.extend(c.to_lowercase());
                }
                typed.push_str(sep);
            }
            let result = check_initials(&all(&typed), &given, &family);
            prop_assert_eq!(result, Ok(expected));
        }

        /// Initials that differ from the expected ones are refused on every entry.
        #[test]
        fn other_initials_are_refused(typed in "[A-Z]{1,6}", given in "[A-Z][a-z]{0,6}",
                                      family in "[A-Z][a-z]{0,6}") {
            prop_assume!(typed != expected_initials(&given, &family));
            let errs = check_initials(&all(&typed), &given, &family).unwrap_err();
            prop_assert_eq!(errs.len(), CURRENT.statements.len());
        }
    }
}
