//! Fictional demo institutions, loaded on first start of the embedded default so that a
//! person can create an account straight away. No real institution is named.

use wb_domain::{
    AccessTier, AgreementType, Institution, MembershipRequirement, OrganizationType,
    TierRequirement,
};
use wb_store::{Store, StoreError};

pub fn institutions() -> Vec<Institution> {
    let none: Vec<String> = Vec::new();
    vec![
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
                    none.clone(),
                ),
                TierRequirement::new(
                    AccessTier::Controlled,
                    MembershipRequirement::Domains,
                    ["northfield.example", "med.northfield.example"],
                    none.clone(),
                ),
            ],
            request_access_url: None,
        },
        Institution {
            short_name: "harbor-point".into(),
            display_name: "Harbor Point Medical Center".into(),
            organization_type: OrganizationType::HealthCenter,
            organization_type_other: None,
            agreement_type: AgreementType::Restricted,
            tiers: vec![TierRequirement::new(
                AccessTier::Registered,
                MembershipRequirement::Addresses,
                none.clone(),
                [
                    "r.okafor@harborpoint.example",
                    "j.castellanos@harborpoint.example",
                ],
            )],
            request_access_url: Some("https://harborpoint.example/research-office".into()),
        },
        Institution {
            short_name: "cedar-valley".into(),
            display_name: "Cedar Valley Community College".into(),
            organization_type: OrganizationType::Educational,
            organization_type_other: None,
            agreement_type: AgreementType::Master,
            tiers: vec![TierRequirement::new(
                AccessTier::Registered,
                MembershipRequirement::Domains,
                ["cedarvalley.example"],
                none.clone(),
            )],
            request_access_url: None,
        },
        Institution {
            short_name: "quartz-analytics".into(),
            display_name: "Quartz Analytics, Inc.".into(),
            organization_type: OrganizationType::Industry,
            organization_type_other: None,
            agreement_type: AgreementType::Master,
            tiers: vec![TierRequirement::new(
                AccessTier::Registered,
                MembershipRequirement::Domains,
                ["quartz-analytics.example"],
                none,
            )],
            request_access_url: None,
        },
    ]
}

/// Loads the demo institutions once, when the database has no institution at all.
/// Returns how many were loaded.
pub async fn load_if_empty(store: &Store, now: i64) -> Result<usize, StoreError> {
    if store.meta("demo_loaded").await?.is_some() || !store.institutions().await?.is_empty() {
        return Ok(0);
    }
    let all = institutions();
    for i in &all {
        store.upsert_institution(i, now).await?;
    }
    // Dataset versions to choose from until real ones are registered (`wb cdr register`).
    for (name, tier) in [
        ("Registered Tier Dataset v7", "registered"),
        ("Controlled Tier Dataset v7", "controlled"),
    ] {
        if store.cdr_versions(tier).await?.is_empty() {
            store
                .register_cdr_version(name, tier, true, None, now)
                .await?;
        }
    }
    store.set_meta("demo_loaded", &now.to_string()).await?;
    Ok(all.len())
}
