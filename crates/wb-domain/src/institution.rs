//! Institutions and their data use agreements.
//!
//! An institution signs an agreement with the program. For each access tier it says who is
//! eligible: anyone with an address at one of its e-mail domains (a *master* agreement), only
//! the addresses it lists (a *restricted* agreement), or nobody.

use serde::{Deserialize, Serialize};

use crate::email::EmailAddress;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $code:literal, $label:literal;)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable code stored in the database and used in forms.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// What a person reads.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.label())
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// The access tiers of the data. Controlled builds on Registered.
    AccessTier {
        Registered => "registered", "Registered Tier";
        Controlled => "controlled", "Controlled Tier";
    }
}

string_enum! {
    OrganizationType {
        AcademicResearch => "academic", "Academic research institution";
        Educational => "educational", "Educational institution";
        HealthCenter => "health_center", "Health center / non-profit";
        Industry => "industry", "Industry";
        Other => "other", "Other";
    }
}

string_enum! {
    /// The kind of data use agreement, as institutions sign it.
    AgreementType {
        Master => "master", "Master (any address at the institution's e-mail domains)";
        Restricted => "restricted", "Restricted (only individually listed addresses)";
    }
}

string_enum! {
    /// Who is eligible for one tier under an institution's agreement.
    MembershipRequirement {
        Domains => "domains", "Addresses at the listed e-mail domains";
        Addresses => "addresses", "Only the listed e-mail addresses";
        NoAccess => "no_access", "No access";
    }
}

impl AgreementType {
    /// The membership rule an agreement of this type gives a tier by default.
    pub fn default_requirement(self) -> MembershipRequirement {
        match self {
            AgreementType::Master => MembershipRequirement::Domains,
            AgreementType::Restricted => MembershipRequirement::Addresses,
        }
    }
}

/// Eligibility for one tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierRequirement {
    pub tier: AccessTier,
    pub requirement: MembershipRequirement,
    /// Lower-case domains, without `@`. Exact match only: no subdomain wildcard.
    pub email_domains: Vec<String>,
    /// Lower-case whole addresses.
    pub email_addresses: Vec<String>,
}

impl TierRequirement {
    pub fn new(
        tier: AccessTier,
        requirement: MembershipRequirement,
        domains: impl IntoIterator<Item = impl AsRef<str>>,
        addresses: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Self {
        let norm = |s: &str| s.trim().trim_start_matches('@').to_ascii_lowercase();
        let mut email_domains: Vec<String> = domains
            .into_iter()
            .map(|d| norm(d.as_ref()))
            .filter(|d| !d.is_empty())
            .collect();
        email_domains.sort();
        email_domains.dedup();
        let mut email_addresses: Vec<String> = addresses
            .into_iter()
            .map(|a| a.as_ref().trim().to_lowercase())
            .filter(|a| !a.is_empty())
            .collect();
        email_addresses.sort();
        email_addresses.dedup();
        Self {
            tier,
            requirement,
            email_domains,
            email_addresses,
        }
    }
}

/// An institution with a data use agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Institution {
    /// Unique, immutable id, e.g. `northfield`.
    pub short_name: String,
    pub display_name: String,
    pub organization_type: OrganizationType,
    /// Required when `organization_type` is `Other`.
    pub organization_type_other: Option<String>,
    pub agreement_type: AgreementType,
    /// One entry per tier the agreement speaks of; a missing tier means no access.
    pub tiers: Vec<TierRequirement>,
    /// Where a refused user can ask for access (restricted agreements).
    pub request_access_url: Option<String>,
}

/// The outcome of checking an e-mail address against an agreement, with the reason a person
/// is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailEligibility {
    Eligible,
    /// The institution's agreement does not cover this tier at all.
    TierNotCovered {
        tier: AccessTier,
    },
    /// Master agreement: the address is not at one of the listed domains.
    DomainNotListed {
        domain: String,
        allowed: Vec<String>,
    },
    /// Restricted agreement: the address is not one of the listed ones.
    AddressNotListed,
}

impl EmailEligibility {
    pub fn is_eligible(&self) -> bool {
        matches!(self, EmailEligibility::Eligible)
    }

    /// The sentence shown to the user, naming exactly why the address is refused.
    pub fn message(&self, institution: &Institution) -> Option<String> {
        let name = &institution.display_name;
        match self {
            EmailEligibility::Eligible => None,
            EmailEligibility::TierNotCovered { tier } => Some(format!(
                "{name}'s agreement does not include {tier} access, so accounts cannot be created \
                 for it yet."
            )),
            EmailEligibility::DomainNotListed { domain, allowed } => {
                let list = allowed
                    .iter()
                    .map(|d| format!("@{d}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                Some(format!(
                    "Your email does not match your institution: {name}'s agreement covers \
                     addresses ending in {list}, and this address ends in @{domain}. Use your \
                     institutional address."
                ))
            }
            EmailEligibility::AddressNotListed => Some(format!(
                "{name} has authorized access only to select members, and this address is not \
                 one of them. Ask your institution's research office to add it{}.",
                institution
                    .request_access_url
                    .as_deref()
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default()
            )),
        }
    }
}

impl Institution {
    pub fn tier(&self, tier: AccessTier) -> Option<&TierRequirement> {
        self.tiers.iter().find(|t| t.tier == tier)
    }

    /// Checks `email` against this institution's agreement for `tier`. Domains and addresses
    /// compare case-insensitively; a domain matches exactly (a subdomain does not).
    pub fn check_email(&self, email: &EmailAddress, tier: AccessTier) -> EmailEligibility {
        let Some(req) = self.tier(tier) else {
            return EmailEligibility::TierNotCovered { tier };
        };
        match req.requirement {
            MembershipRequirement::NoAccess => EmailEligibility::TierNotCovered { tier },
            MembershipRequirement::Domains => {
                let domain = email.domain().to_ascii_lowercase();
                if req.email_domains.contains(&domain) {
                    EmailEligibility::Eligible
                } else {
                    EmailEligibility::DomainNotListed {
                        domain,
                        allowed: req.email_domains.clone(),
                    }
                }
            }
            MembershipRequirement::Addresses => {
                let canonical = email.canonical();
                if req.email_addresses.contains(&canonical) {
                    EmailEligibility::Eligible
                } else {
                    EmailEligibility::AddressNotListed
                }
            }
        }
    }

    /// Checks the fields an administrator sets; returns every problem found.
    pub fn validate(&self) -> Result<(), crate::FieldErrors> {
        let mut errors = crate::FieldErrors::new();
        let short = &self.short_name;
        if short.is_empty()
            || short.len() > 80
            || !short
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            errors.add(
                "short_name",
                "A short name is 1 to 80 characters: lower-case letters, digits, '-' and '_'.",
            );
        }
        if self.display_name.trim().is_empty() || self.display_name.chars().count() > 200 {
            errors.add("display_name", "A display name is 1 to 200 characters.");
        } else if let Err(m) = crate::text::check(&self.display_name, crate::text::Kind::Line) {
            errors.add("display_name", m);
        }
        if self.organization_type == OrganizationType::Other
            && self
                .organization_type_other
                .as_deref()
                .is_none_or(|s| s.trim().is_empty())
        {
            errors.add(
                "organization_type_other",
                "Describe the organization type when it is 'Other'.",
            );
        }
        for t in &self.tiers {
            match t.requirement {
                MembershipRequirement::Domains if t.email_domains.is_empty() => errors.add(
                    "tiers",
                    format!(
                        "{}: a domain agreement needs at least one e-mail domain.",
                        t.tier
                    ),
                ),
                MembershipRequirement::Addresses if t.email_addresses.is_empty() => errors.add(
                    "tiers",
                    format!(
                        "{}: a restricted agreement needs at least one address.",
                        t.tier
                    ),
                ),
                _ => {}
            }
            for d in &t.email_domains {
                if EmailAddress::parse(&format!("x@{d}")).is_err() {
                    errors.add("tiers", format!("'{d}' is not an e-mail domain."));
                }
            }
            for a in &t.email_addresses {
                if EmailAddress::parse(a).is_err() {
                    errors.add("tiers", format!("'{a}' is not an e-mail address."));
                }
            }
        }
        if let Some(c) = self.tier(AccessTier::Controlled)
            && c.requirement != MembershipRequirement::NoAccess
            && self
                .tier(AccessTier::Registered)
                .is_none_or(|r| r.requirement == MembershipRequirement::NoAccess)
        {
            errors.add(
                "tiers",
                "Controlled Tier access requires Registered Tier access under the same agreement.",
            );
        }
        errors.into_result(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn master() -> Institution {
        Institution {
            short_name: "northfield".into(),
            display_name: "Northfield University".into(),
            organization_type: OrganizationType::AcademicResearch,
            organization_type_other: None,
            agreement_type: AgreementType::Master,
            tiers: vec![
                TierRequirement::new(
                    AccessTier::Registered,
                    MembershipRequirement::Domains,
                    ["northfield.example", "med.northfield.example"],
                    Vec::<String>::new(),
                ),
                TierRequirement::new(
                    AccessTier::Controlled,
                    MembershipRequirement::Domains,
                    ["northfield.example"],
                    Vec::<String>::new(),
                ),
            ],
            request_access_url: None,
        }
    }

    fn restricted() -> Institution {
        Institution {
            short_name: "harbor".into(),
            display_name: "Harbor Point Medical Center".into(),
            organization_type: OrganizationType::HealthCenter,
            organization_type_other: None,
            agreement_type: AgreementType::Restricted,
            tiers: vec![TierRequirement::new(
                AccessTier::Registered,
                MembershipRequirement::Addresses,
                Vec::<String>::new(),
                ["Grace.Hopper@harborpoint.example"],
            )],
            request_access_url: Some("https://harborpoint.example/research".into()),
        }
    }

    fn email(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap()
    }

    #[test]
    fn master_agreement_matches_domains_exactly() {
        let i = master();
        assert!(
            i.check_email(&email("ada@NORTHFIELD.example"), AccessTier::Registered)
                .is_eligible()
        );
        assert!(
            i.check_email(&email("ada@med.northfield.example"), AccessTier::Registered)
                .is_eligible()
        );
        let r = i.check_email(&email("ada@cs.northfield.example"), AccessTier::Registered);
        assert!(matches!(r, EmailEligibility::DomainNotListed { .. }));
        let msg = r.message(&i).unwrap();
        assert!(msg.contains("@northfield.example"), "{msg}");
        assert!(msg.contains("@cs.northfield.example"), "{msg}");
        // CT lists only the main domain.
        assert!(
            !i.check_email(&email("ada@med.northfield.example"), AccessTier::Controlled)
                .is_eligible()
        );
    }

    #[test]
    fn restricted_agreement_matches_addresses_case_insensitively() {
        let i = restricted();
        assert!(
            i.check_email(
                &email("grace.hopper@harborpoint.example"),
                AccessTier::Registered
            )
            .is_eligible()
        );
        let r = i.check_email(
            &email("someone@harborpoint.example"),
            AccessTier::Registered,
        );
        assert_eq!(r, EmailEligibility::AddressNotListed);
        assert!(r.message(&i).unwrap().contains("select members"));
        assert_eq!(
            i.check_email(
                &email("grace.hopper@harborpoint.example"),
                AccessTier::Controlled
            ),
            EmailEligibility::TierNotCovered {
                tier: AccessTier::Controlled
            }
        );
    }

    #[test]
    fn validation_reports_each_problem() {
        let mut i = master();
        i.short_name = "Bad Name".into();
        i.tiers[0].email_domains.clear();
        let errs = i.validate().unwrap_err();
        assert!(errs.get("short_name").is_some());
        assert!(errs.get("tiers").is_some());
        assert!(master().validate().is_ok());
        assert!(restricted().validate().is_ok());
    }

    proptest! {
        /// Under a master agreement, eligibility is exactly "domain is in the list".
        #[test]
        fn master_eligibility_is_domain_membership(local in "[a-z][a-z0-9.]{0,10}[a-z0-9]",
                                                   domain in "[a-z]{1,8}\\.(example|edu|org)") {
            prop_assume!(!local.contains(".."));
            let i = master();
            let e = email(&format!("{local}@{domain}"));
            let listed = i.tier(AccessTier::Registered).unwrap().email_domains.contains(&domain);
            prop_assert_eq!(i.check_email(&e, AccessTier::Registered).is_eligible(), listed);
        }

        /// Under a restricted agreement, only listed addresses pass, whatever their case.
        #[test]
        fn restricted_eligibility_ignores_case(upper in proptest::collection::vec(any::<bool>(), 32)) {
            let i = restricted();
            let addr: String = "grace.hopper@harborpoint.example"
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c })
                .collect();
            prop_assert!(i.check_email(&email(&addr), AccessTier::Registered).is_eligible());
        }
    }
}
