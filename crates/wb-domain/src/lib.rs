//! Workbench domain: the types and rules of the product, with no I/O.
//!
//! Everything here is a pure function of its inputs, so it can be unit- and property-tested
//! without a database or a server. The web and store crates call these rules; they never
//! re-implement them.

pub mod access;
pub mod analysis;
pub mod choices;
pub mod cohort;
pub mod cohort_edit;
pub mod conduct;
pub mod credits;
pub mod email;
pub mod errors;
pub mod institution;
pub mod research_purpose;
pub mod signup;
pub mod text;
pub mod throttle;
pub mod training;
pub mod username;
pub mod workspace;

pub use email::EmailAddress;
pub use errors::FieldErrors;
pub use institution::{
    AccessTier, AgreementType, EmailEligibility, Institution, MembershipRequirement,
    OrganizationType, TierRequirement,
};
pub use username::Username;

/// The version of the Terms of Use and Privacy Statement users accept now. Raising it makes
/// every earlier acceptance outdated.
pub const TERMS_VERSION: i64 = 1;
