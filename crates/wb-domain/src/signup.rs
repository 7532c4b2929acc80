//! The sign-up form: what a person types in Step 1 and Step 2, and the rules each field obeys.
//!
//! Input arrives as the strings a browser sends; the output is a typed, validated profile or a
//! [`FieldErrors`] naming every field that needs fixing. Lookups that need storage (does the
//! institution exist, is the username free) are done by the caller and passed in.

use serde::{Deserialize, Serialize};

use crate::choices::{
    Degree, DiscoverySource, Education, GenderIdentity, RaceEthnicity, Role, SexAtBirth,
    SexualOrientation, YesNoPreferNot,
};
use crate::email::EmailAddress;
use crate::errors::FieldErrors;
use crate::institution::{AccessTier, Institution};
use crate::text::{self, Kind};
use crate::username::Username;

pub const NAME_MAX: usize = 80;
pub const ADDRESS_FIELD_MAX: usize = 95;
pub const ZIP_MAX: usize = 10;
pub const RESEARCH_BACKGROUND_MAX: usize = 2000;
pub const OTHER_TEXT_MAX: usize = 200;
pub const URL_MAX: usize = 2000;

/// Step 1 as typed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Step1Input {
    pub institution: String,
    pub email: String,
    pub role: String,
    #[serde(default)]
    pub role_other: String,
}

/// Step 1, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affiliation {
    pub institution: String,
    pub contact_email: EmailAddress,
    pub role: Role,
    pub role_other: Option<String>,
}

/// Validates Step 1. `institution` is the institution the user picked, if it exists. The
/// e-mail must be eligible for the Registered Tier under that institution's agreement.
pub fn validate_step1(
    input: &Step1Input,
    institution: Option<&Institution>,
) -> Result<Affiliation, FieldErrors> {
    let mut errors = FieldErrors::new();
    if input.institution.trim().is_empty() {
        errors.add("institution", "Select your institution.");
    } else if institution.is_none() {
        errors.add(
            "institution",
            "This institution has no data use agreement with the program. Select one from the \
             list, or submit a request to add yours.",
        );
    }
    let email = match EmailAddress::parse(&input.email) {
        Ok(e) => Some(e),
        Err(e) => {
            errors.add("email", e.to_string());
            None
        }
    };
    if let (Some(inst), Some(email)) = (institution, email.as_ref()) {
        let eligibility = inst.check_email(email, AccessTier::Registered);
        if let Some(msg) = eligibility.message(inst) {
            errors.add("email", msg);
        }
    }
    let (role, role_other) = check_role(
        &mut errors,
        &input.role,
        &input.role_other,
        institution,
        None,
    );
    match (errors.is_empty(), institution, email, role) {
        (true, Some(inst), Some(email), Some(role)) => Ok(Affiliation {
            institution: inst.short_name.clone(),
            contact_email: email,
            role,
            role_other: if role == Role::Other {
                role_other
            } else {
                None
            },
        }),
        _ => Err(errors),
    }
}

/// The role and its "Other" text, as Step 1 and the profile edit check them. `institution`
/// limits the roles to those offered for its organization type.
fn check_role(
    errors: &mut FieldErrors,
    role_code: &str,
    role_other_text: &str,
    institution: Option<&Institution>,
    current: Option<Role>,
) -> (Option<Role>, Option<String>) {
    let role = match Role::from_code(role_code.trim()) {
        None if role_code.trim().is_empty() => {
            errors.add("role", "Select the role that best describes you.");
            None
        }
        None => {
            errors.add("role", "Select one of the listed roles.");
            None
        }
        Some(r) => {
            if let Some(inst) = institution
                && !Role::for_organization(inst.organization_type).contains(&r)
                && current != Some(r)
            {
                errors.add(
                    "role",
                    format!(
                        "'{}' is not a role offered for {}.",
                        r.label(),
                        inst.display_name
                    ),
                );
            }
            Some(r)
        }
    };
    let role_other = if role == Some(Role::Other) {
        let t = optional_line(errors, "role_other", role_other_text, OTHER_TEXT_MAX);
        if t.is_none() {
            errors.add("role_other", "Describe your role.");
        }
        t
    } else {
        optional_text(role_other_text)
    };
    (role, role_other)
}

/// Step 2 as typed. Multi-valued fields hold the codes of the checked boxes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Step2Input {
    pub username: String,
    pub given_name: String,
    pub family_name: String,
    pub degrees: Vec<String>,
    pub professional_url: String,
    pub street1: String,
    pub street2: String,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub country: String,
    pub research_background: String,
    pub discovery: Vec<String>,
    pub discovery_other: String,
    pub race: Vec<String>,
    pub gender: Vec<String>,
    pub orientation: Vec<String>,
    pub sex_at_birth: String,
    pub year_of_birth: String,
    pub education: String,
    pub disability: String,
    pub disadvantaged: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub street1: String,
    pub street2: Option<String>,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub country: String,
}

/// Optional demographics. `None` or an empty list means the question was left unanswered;
/// "Prefer not to answer" is an answer of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demographics {
    pub race: Vec<RaceEthnicity>,
    pub gender: Vec<GenderIdentity>,
    pub orientation: Vec<SexualOrientation>,
    pub sex_at_birth: Option<SexAtBirth>,
    /// A year, or `None` (unanswered or preferred not to say: see `year_of_birth_prefer_not`).
    pub year_of_birth: Option<i32>,
    pub year_of_birth_prefer_not: bool,
    pub education: Option<Education>,
    pub disability: Option<YesNoPreferNot>,
    pub disadvantaged: Option<YesNoPreferNot>,
}

/// Step 2, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileDetails {
    pub username: Username,
    pub given_name: String,
    pub family_name: String,
    pub degrees: Vec<Degree>,
    pub professional_url: Option<String>,
    pub address: Address,
    pub research_background: String,
    pub discovery: Vec<DiscoverySource>,
    pub discovery_other: Option<String>,
    pub demographics: Demographics,
}

fn optional_text(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// An optional one-line answer, at most `max` characters.
fn optional_line(errors: &mut FieldErrors, field: &str, value: &str, max: usize) -> Option<String> {
    let t = optional_text(value)?;
    if t.chars().count() > max {
        errors.add(field, format!("Use at most {max} characters."));
    } else if let Err(m) = text::check(&t, Kind::Line) {
        errors.add(field, m);
    }
    Some(t)
}

fn required_text(
    errors: &mut FieldErrors,
    field: &str,
    value: &str,
    max: usize,
    missing: &str,
    kind: Kind,
) -> String {
    let t = value.trim();
    if t.is_empty() {
        errors.add(field, missing);
    } else if t.chars().count() > max {
        errors.add(
            field,
            format!(
                "Use at most {max} characters (this has {}).",
                t.chars().count()
            ),
        );
    } else if let Err(m) = text::check(t, kind) {
        errors.add(field, m);
    }
    t.to_owned()
}

fn codes<T: Copy + PartialEq>(
    errors: &mut FieldErrors,
    field: &str,
    values: &[String],
    parse: fn(&str) -> Option<T>,
) -> Vec<T> {
    let mut out = Vec::new();
    for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        match parse(v) {
            Some(x) if !out.contains(&x) => out.push(x),
            Some(_) => {}
            None => errors.add(field, "Choose only from the listed options."),
        }
    }
    out
}

fn one_code<T>(
    errors: &mut FieldErrors,
    field: &str,
    value: &str,
    parse: fn(&str) -> Option<T>,
) -> Option<T> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    let parsed = parse(v);
    if parsed.is_none() {
        errors.add(field, "Choose one of the listed options.");
    }
    parsed
}

fn valid_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(r) => {
            let host = r.split(['/', '?', '#']).next().unwrap_or("");
            let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
            let host = host.split(':').next().unwrap_or("");
            host.contains('.')
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// What Step 2 and the profile edit share: names, degrees, web page, address and research
/// background.
struct About {
    given_name: String,
    family_name: String,
    degrees: Vec<Degree>,
    professional_url: Option<String>,
    address: Address,
    research_background: String,
}

fn check_about(errors: &mut FieldErrors, input: &Step2Input) -> About {
    let given_name = required_text(
        errors,
        "given_name",
        &input.given_name,
        NAME_MAX,
        "Enter your first name.",
        Kind::Line,
    );
    let family_name = required_text(
        errors,
        "family_name",
        &input.family_name,
        NAME_MAX,
        "Enter your last name.",
        Kind::Line,
    );
    let degrees = codes(errors, "degrees", &input.degrees, Degree::from_code);
    if degrees.contains(&Degree::NoDegree) && degrees.len() > 1 {
        errors.add("degrees", "'None' cannot be combined with a degree.");
    }
    let professional_url = optional_text(&input.professional_url);
    if let Some(u) = &professional_url
        && (u.len() > URL_MAX || !valid_url(u))
    {
        errors.add(
            "professional_url",
            "Enter a web address starting with https:// or http://, or leave it empty.",
        );
    }
    let street1 = required_text(
        errors,
        "street1",
        &input.street1,
        ADDRESS_FIELD_MAX,
        "Enter the street address.",
        Kind::Line,
    );
    let street2 = optional_line(errors, "street2", &input.street2, ADDRESS_FIELD_MAX);
    let city = required_text(
        errors,
        "city",
        &input.city,
        ADDRESS_FIELD_MAX,
        "Enter the city.",
        Kind::Line,
    );
    let state = required_text(
        errors,
        "state",
        &input.state,
        ADDRESS_FIELD_MAX,
        "Enter the state or province.",
        Kind::Line,
    );
    let zip = required_text(
        errors,
        "zip",
        &input.zip,
        ZIP_MAX,
        "Enter the zip or postal code.",
        Kind::Line,
    );
    let country = required_text(
        errors,
        "country",
        &input.country,
        ADDRESS_FIELD_MAX,
        "Enter the country.",
        Kind::Line,
    );
    let research_background = required_text(
        errors,
        "research_background",
        &input.research_background,
        RESEARCH_BACKGROUND_MAX,
        "Describe your background, experience and research interests.",
        Kind::Paragraphs,
    );
    About {
        given_name,
        family_name,
        degrees,
        professional_url,
        address: Address {
            street1,
            street2,
            city,
            state,
            zip,
            country,
        },
        research_background,
    }
}

/// The optional demographic questions, as Step 2 and the profile edit check them.
fn check_demographics(
    errors: &mut FieldErrors,
    input: &Step2Input,
    current_year: i32,
) -> Demographics {
    let race = codes(errors, "race", &input.race, RaceEthnicity::from_code);
    let gender = codes(errors, "gender", &input.gender, GenderIdentity::from_code);
    let orientation = codes(
        errors,
        "orientation",
        &input.orientation,
        SexualOrientation::from_code,
    );
    for (field, exclusive) in [
        (
            "race",
            race.contains(&RaceEthnicity::PreferNot) && race.len() > 1,
        ),
        (
            "gender",
            gender.contains(&GenderIdentity::PreferNot) && gender.len() > 1,
        ),
        (
            "orientation",
            orientation.contains(&SexualOrientation::PreferNot) && orientation.len() > 1,
        ),
    ] {
        if exclusive {
            errors.add(
                field,
                "'Prefer not to answer' cannot be combined with other answers.",
            );
        }
    }
    let sex_at_birth = one_code(
        errors,
        "sex_at_birth",
        &input.sex_at_birth,
        SexAtBirth::from_code,
    );
    let education = one_code(errors, "education", &input.education, Education::from_code);
    let disability = one_code(
        errors,
        "disability",
        &input.disability,
        YesNoPreferNot::from_code,
    );
    let disadvantaged = one_code(
        errors,
        "disadvantaged",
        &input.disadvantaged,
        YesNoPreferNot::from_code,
    );
    let yob = input.year_of_birth.trim();
    let (year_of_birth, year_of_birth_prefer_not) = match yob {
        "" => (None, false),
        "prefer_not" => (None, true),
        y => match y.parse::<i32>() {
            Ok(y) if (current_year - 125..=current_year).contains(&y) => (Some(y), false),
            _ => {
                errors.add(
                    "year_of_birth",
                    format!(
                        "Enter a year between {} and {current_year}, or choose 'Prefer not to \
                         answer'.",
                        current_year - 125
                    ),
                );
                (None, false)
            }
        },
    };

    Demographics {
        race,
        gender,
        orientation,
        sex_at_birth,
        year_of_birth,
        year_of_birth_prefer_not,
        education,
        disability,
        disadvantaged,
    }
}

/// Validates Step 2. `current_year` bounds the year of birth (the last 125 years).
pub fn validate_step2(
    input: &Step2Input,
    current_year: i32,
) -> Result<ProfileDetails, FieldErrors> {
    let mut errors = FieldErrors::new();
    let username = match Username::parse(&input.username) {
        Ok(u) => Some(u),
        Err(e) => {
            errors.add("username", e.to_string());
            None
        }
    };
    let about = check_about(&mut errors, input);
    let discovery = codes(
        &mut errors,
        "discovery",
        &input.discovery,
        DiscoverySource::from_code,
    );
    if discovery.is_empty() {
        errors.add(
            "discovery",
            "Select at least one way you heard about the workbench.",
        );
    }
    let discovery_other = if discovery.contains(&DiscoverySource::Other) {
        let t = optional_line(
            &mut errors,
            "discovery_other",
            &input.discovery_other,
            OTHER_TEXT_MAX,
        );
        if t.is_none() {
            errors.add("discovery_other", "Tell us where you heard about us.");
        }
        t
    } else {
        optional_text(&input.discovery_other)
    };

    let demographics = check_demographics(&mut errors, input, current_year);

    match username {
        Some(username) if errors.is_empty() => Ok(ProfileDetails {
            username,
            given_name: about.given_name,
            family_name: about.family_name,
            degrees: about.degrees,
            professional_url: about.professional_url,
            address: about.address,
            research_background: about.research_background,
            discovery_other: if discovery.contains(&DiscoverySource::Other) {
                discovery_other
            } else {
                None
            },
            discovery,
            demographics,
        }),
        _ => Err(errors),
    }
}

/// "Edit your profile" as typed: what sign-up collected, less the username, the institution
/// and the contact e-mail (which are not editable) and "how did you hear about us".
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProfileEditInput {
    pub role: String,
    pub role_other: String,
    pub given_name: String,
    pub family_name: String,
    pub degrees: Vec<String>,
    pub professional_url: String,
    pub street1: String,
    pub street2: String,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub country: String,
    pub research_background: String,
    pub race: Vec<String>,
    pub gender: Vec<String>,
    pub orientation: Vec<String>,
    pub sex_at_birth: String,
    pub year_of_birth: String,
    pub education: String,
    pub disability: String,
    pub disadvantaged: String,
}

/// The editable part of a profile, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileEdit {
    pub role: Role,
    pub role_other: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub degrees: Vec<Degree>,
    pub professional_url: Option<String>,
    pub address: Address,
    pub research_background: String,
    pub demographics: Demographics,
}

/// A part of the profile that an edit can change, in the order the form shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProfileSection {
    Name,
    Role,
    Degrees,
    ProfessionalUrl,
    Address,
    ResearchBackground,
    Demographics,
}

impl ProfileSection {
    pub const ALL: &'static [ProfileSection] = &[
        ProfileSection::Name,
        ProfileSection::Role,
        ProfileSection::Degrees,
        ProfileSection::ProfessionalUrl,
        ProfileSection::Address,
        ProfileSection::ResearchBackground,
        ProfileSection::Demographics,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ProfileSection::Name => "name",
            ProfileSection::Role => "role",
            ProfileSection::Degrees => "degrees",
            ProfileSection::ProfessionalUrl => "professional_url",
            ProfileSection::Address => "address",
            ProfileSection::ResearchBackground => "research_background",
            ProfileSection::Demographics => "demographics",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.code() == code)
    }

    /// As a sentence names it: "address", "research background".
    pub fn label(self) -> &'static str {
        match self {
            ProfileSection::Name => "name",
            ProfileSection::Role => "role",
            ProfileSection::Degrees => "degrees",
            ProfileSection::ProfessionalUrl => "professional web page",
            ProfileSection::Address => "address",
            ProfileSection::ResearchBackground => "research background",
            ProfileSection::Demographics => "demographic information",
        }
    }
}

impl ProfileEdit {
    /// The sections in which `self` differs from `before`, in form order.
    pub fn changes(&self, before: &ProfileEdit) -> Vec<ProfileSection> {
        ProfileSection::ALL
            .iter()
            .copied()
            .filter(|s| match s {
                ProfileSection::Name => {
                    self.given_name != before.given_name || self.family_name != before.family_name
                }
                ProfileSection::Role => {
                    self.role != before.role || self.role_other != before.role_other
                }
                ProfileSection::Degrees => self.degrees != before.degrees,
                ProfileSection::ProfessionalUrl => self.professional_url != before.professional_url,
                ProfileSection::Address => self.address != before.address,
                ProfileSection::ResearchBackground => {
                    self.research_background != before.research_background
                }
                ProfileSection::Demographics => self.demographics != before.demographics,
            })
            .collect()
    }
}

/// "Profile saved: address, research background updated." or "No changes."
pub fn saved_message(changes: &[ProfileSection]) -> String {
    if changes.is_empty() {
        "No changes.".to_owned()
    } else {
        format!(
            "Profile saved: {} updated.",
            changes
                .iter()
                .map(|s| s.label())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Validates a profile edit with the rules of sign-up. `institution` is the user's
/// institution (its organization type limits the roles); `current_role` stays acceptable even
/// if the institution no longer offers it, so an unrelated edit is never refused for it.
pub fn validate_profile_edit(
    input: &ProfileEditInput,
    institution: Option<&Institution>,
    current_role: Role,
    current_year: i32,
) -> Result<ProfileEdit, FieldErrors> {
    let mut errors = FieldErrors::new();
    let (role, role_other) = check_role(
        &mut errors,
        &input.role,
        &input.role_other,
        institution,
        Some(current_role),
    );
    let shared = Step2Input {
        given_name: input.given_name.clone(),
        family_name: input.family_name.clone(),
        degrees: input.degrees.clone(),
        professional_url: input.professional_url.clone(),
        street1: input.street1.clone(),
        street2: input.street2.clone(),
        city: input.city.clone(),
        state: input.state.clone(),
        zip: input.zip.clone(),
        country: input.country.clone(),
        research_background: input.research_background.clone(),
        race: input.race.clone(),
        gender: input.gender.clone(),
        orientation: input.orientation.clone(),
        sex_at_birth: input.sex_at_birth.clone(),
        year_of_birth: input.year_of_birth.clone(),
        education: input.education.clone(),
        disability: input.disability.clone(),
        disadvantaged: input.disadvantaged.clone(),
        ..Step2Input::default()
    };
    let about = check_about(&mut errors, &shared);
    let demographics = check_demographics(&mut errors, &shared, current_year);
    match role {
        Some(role) if errors.is_empty() => Ok(ProfileEdit {
            role,
            role_other: if role == Role::Other {
                role_other
            } else {
                None
            },
            given_name: about.given_name,
            family_name: about.family_name,
            degrees: about.degrees,
            professional_url: about.professional_url,
            address: about.address,
            research_background: about.research_background,
            demographics,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::institution::{
        AgreementType, MembershipRequirement, OrganizationType, TierRequirement,
    };

    fn northfield() -> Institution {
        Institution {
            short_name: "northfield".into(),
            display_name: "Northfield University".into(),
            organization_type: OrganizationType::AcademicResearch,
            organization_type_other: None,
            agreement_type: AgreementType::Master,
            tiers: vec![TierRequirement::new(
                AccessTier::Registered,
                MembershipRequirement::Domains,
                ["northfield.example"],
                Vec::<String>::new(),
            )],
            request_access_url: None,
        }
    }

    pub fn good_step2() -> Step2Input {
        Step2Input {
            username: "ada.l".into(),
            given_name: "Ada".into(),
            family_name: "Lindqvist".into(),
            degrees: vec!["phd".into()],
            street1: "1 College Way".into(),
            city: "Northfield".into(),
            state: "MN".into(),
            zip: "55057".into(),
            country: "United States".into(),
            research_background: "Epidemiology of chronic kidney disease.".into(),
            discovery: vec!["colleagues".into()],
            ..Default::default()
        }
    }

    fn good_edit() -> ProfileEditInput {
        let s = good_step2();
        ProfileEditInput {
            role: "graduate_trainee".into(),
            given_name: s.given_name,
            family_name: s.family_name,
            degrees: s.degrees,
            street1: s.street1,
            city: s.city,
            state: s.state,
            zip: s.zip,
            country: s.country,
            research_background: s.research_background,
            ..Default::default()
        }
    }

    #[test]
    fn profile_edit_uses_the_signup_rules_and_names_changes() {
        let before = validate_profile_edit(
            &good_edit(),
            Some(&northfield()),
            Role::GraduateTrainee,
            2026,
        )
        .unwrap();
        assert!(before.changes(&before).is_empty());
        assert_eq!(saved_message(&[]), "No changes.");
        let mut input = good_edit();
        input.city = "Faribault".into();
        input.research_background = "Dialysis outcomes.".into();
        let after = validate_profile_edit(&input, Some(&northfield()), Role::GraduateTrainee, 2026)
            .unwrap();
        let changes = after.changes(&before);
        assert_eq!(
            changes,
            [ProfileSection::Address, ProfileSection::ResearchBackground]
        );
        assert_eq!(
            saved_message(&changes),
            "Profile saved: address, research background updated."
        );

        type Mutation = Box<dyn Fn(&mut ProfileEditInput)>;
        let cases: Vec<(&str, Mutation)> = vec![
            (
                "given_name",
                Box::new(|i| i.given_name = "Ada\r\nBcc: x@example.org".into()),
            ),
            ("family_name", Box::new(|i| i.family_name = " ".into())),
            ("role", Box::new(|i| i.role = "teacher".into())),
            ("role_other", Box::new(|i| i.role = "other".into())),
            (
                "street1",
                Box::new(|i| i.street1 = "1 College\u{202E}Way".into()),
            ),
            (
                "research_background",
                Box::new(|i| i.research_background = "a\u{0}b".into()),
            ),
            (
                "year_of_birth",
                Box::new(|i| i.year_of_birth = "1800".into()),
            ),
        ];
        for (field, mutate) in cases {
            let mut input = good_edit();
            mutate(&mut input);
            let errs =
                validate_profile_edit(&input, Some(&northfield()), Role::GraduateTrainee, 2026)
                    .unwrap_err();
            assert!(errs.get(field).is_some(), "{field}: {errs}");
            assert_eq!(errs.len(), 1, "only {field} should fail: {errs}");
        }
        // A role the user already holds stays acceptable.
        let mut input = good_edit();
        input.role = "teacher".into();
        assert!(validate_profile_edit(&input, Some(&northfield()), Role::Teacher, 2026).is_ok());
    }

    #[test]
    fn step1_accepts_an_eligible_address() {
        let a = validate_step1(
            &Step1Input {
                institution: "northfield".into(),
                email: "ada@northfield.example".into(),
                role: "graduate_trainee".into(),
                role_other: String::new(),
            },
            Some(&northfield()),
        )
        .unwrap();
        assert_eq!(a.role, Role::GraduateTrainee);
    }

    #[test]
    fn step1_names_every_problem() {
        let errs = validate_step1(
            &Step1Input {
                institution: "northfield".into(),
                email: "ada@gmail.com".into(),
                role: "teacher".into(),
                role_other: String::new(),
            },
            Some(&northfield()),
        )
        .unwrap_err();
        assert!(
            errs.get("email")
                .unwrap()
                .contains("does not match your institution")
        );
        assert!(errs.get("role").unwrap().contains("not a role offered"));

        let errs = validate_step1(&Step1Input::default(), None).unwrap_err();
        assert_eq!(errs.len(), 3);
        let errs = validate_step1(
            &Step1Input {
                institution: "northfield".into(),
                email: "ada@northfield.example".into(),
                role: "other".into(),
                role_other: " ".into(),
            },
            Some(&northfield()),
        )
        .unwrap_err();
        assert_eq!(errs.get("role_other"), Some("Describe your role."));
    }

    #[test]
    fn step2_accepts_a_complete_form() {
        let p = validate_step2(&good_step2(), 2026).unwrap();
        assert_eq!(p.username.as_str(), "ada.l");
        assert_eq!(p.demographics, Demographics::default());
    }

    #[test]
    fn step2_refuses_each_bad_field() {
        type Mutation = Box<dyn Fn(&mut Step2Input)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("username", Box::new(|i| i.username = "x".into())),
            ("given_name", Box::new(|i| i.given_name = "  ".into())),
            ("family_name", Box::new(|i| i.family_name = "x".repeat(81))),
            (
                "degrees",
                Box::new(|i| i.degrees = vec!["none".into(), "md".into()]),
            ),
            (
                "professional_url",
                Box::new(|i| i.professional_url = "javascript:alert(1)".into()),
            ),
            ("zip", Box::new(|i| i.zip = "12345678901".into())),
            (
                "research_background",
                Box::new(|i| i.research_background = "y".repeat(2001)),
            ),
            ("discovery", Box::new(|i| i.discovery.clear())),
            (
                "discovery_other",
                Box::new(|i| i.discovery = vec!["other".into()]),
            ),
            (
                "race",
                Box::new(|i| i.race = vec!["asian".into(), "prefer_not".into()]),
            ),
            (
                "sex_at_birth",
                Box::new(|i| i.sex_at_birth = "robot".into()),
            ),
            (
                "year_of_birth",
                Box::new(|i| i.year_of_birth = "1800".into()),
            ),
        ];
        for (field, mutate) in cases {
            let mut input = good_step2();
            mutate(&mut input);
            let errs = validate_step2(&input, 2026).unwrap_err();
            assert!(errs.get(field).is_some(), "{field}: {errs}");
            assert_eq!(errs.len(), 1, "only {field} should fail: {errs}");
        }
    }

    #[test]
    fn other_texts_without_their_option_are_ignored() {
        // The pages hide the "Other" boxes until "Other" is chosen; what is left in a hidden box
        // (however long) is dropped, never refused.
        let a = validate_step1(
            &Step1Input {
                institution: "northfield".into(),
                email: "ada@northfield.example".into(),
                role: "graduate_trainee".into(),
                role_other: "x".repeat(OTHER_TEXT_MAX + 50),
            },
            Some(&northfield()),
        )
        .unwrap();
        assert_eq!(a.role_other, None);

        let mut input = good_step2();
        input.discovery_other = "y".repeat(OTHER_TEXT_MAX + 50);
        let p = validate_step2(&input, 2026).unwrap();
        assert_eq!(p.discovery_other, None);

        input.discovery.push("other".into());
        let errs = validate_step2(&input, 2026).unwrap_err();
        assert!(errs.get("discovery_other").is_some(), "{errs}");
    }

    #[test]
    fn prefer_not_to_answer_is_an_answer_everywhere() {
        let mut input = good_step2();
        input.race = vec!["prefer_not".into()];
        input.gender = vec!["prefer_not".into()];
        input.orientation = vec!["prefer_not".into()];
        input.sex_at_birth = "prefer_not".into();
        input.year_of_birth = "prefer_not".into();
        input.education = "prefer_not".into();
        input.disability = "prefer_not".into();
        input.disadvantaged = "prefer_not".into();
        let p = validate_step2(&input, 2026).unwrap();
        assert!(p.demographics.year_of_birth_prefer_not);
        assert_eq!(p.demographics.sex_at_birth, Some(SexAtBirth::PreferNot));
    }
}
