//! Access modules and the tiers they unlock.
//!
//! To use the data a researcher completes a short list of *access modules* (2-Step
//! Verification, identity verification, trainings, the code of conduct, a profile check).
//! Which modules a tier needs, when a completion stops counting, and when reminders go out are
//! decided here. Everything is a pure function: the caller loads the records and passes the
//! current time as Unix seconds.

use serde::{Deserialize, Serialize};

use crate::institution::{AccessTier, string_enum};

/// Seconds in one day. Expiry periods and reminder thresholds are counted in whole days.
pub const SECONDS_PER_DAY: i64 = 86_400;

string_enum! {
    /// One step a researcher completes to gain data access.
    AccessModule {
        TwoFactor => "two_factor", "Turn on 2-Step Verification";
        Identity => "identity", "Verify your identity";
        RtTraining => "rt_training", "Complete Responsible Conduct of Research Training";
        CtTraining => "ct_training", "Complete Controlled Tier Training";
        CodeOfConduct => "code_of_conduct", "Sign Data User Code of Conduct";
        ProfileConfirmation => "profile_confirmation", "Confirm your profile";
    }
}

impl AccessModule {
    /// The order in which the modules are shown to, and completed by, a new researcher.
    pub const REGISTRATION_ORDER: &'static [AccessModule] = &[
        AccessModule::TwoFactor,
        AccessModule::Identity,
        AccessModule::RtTraining,
        AccessModule::CtTraining,
        AccessModule::CodeOfConduct,
        AccessModule::ProfileConfirmation,
    ];

    /// Whether a completion of this module lapses after the policy's expiry period and must be
    /// renewed. The trainings, the code of conduct and the profile confirmation expire;
    /// 2-Step Verification and identity verification do not.
    pub fn expires(self) -> bool {
        match self {
            AccessModule::TwoFactor | AccessModule::Identity => false,
            AccessModule::RtTraining
            | AccessModule::CtTraining
            | AccessModule::CodeOfConduct
            | AccessModule::ProfileConfirmation => true,
        }
    }

    /// Whether `tier` needs this module. The Registered Tier needs every module except the
    /// Controlled Tier training; the Controlled Tier needs all of them.
    pub fn required_for(self, tier: AccessTier) -> bool {
        match tier {
            AccessTier::Registered => self != AccessModule::CtTraining,
            AccessTier::Controlled => true,
        }
    }
}

/// What is stored about one researcher and one module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRecord {
    pub module: AccessModule,
    /// When the researcher last completed the module, if ever.
    pub completed_at: Option<i64>,
    /// When an administrator exempted the researcher from the module, if ever.
    pub bypassed_at: Option<i64>,
    /// For the code of conduct: the version the researcher signed. Unused for other modules.
    pub version: Option<i64>,
}

/// The settings that decide how long completions count and when reminders are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    /// How many days a completion of an expiring module counts.
    pub expiry_days: i64,
    /// The code of conduct versions whose signature counts. A signature of any other version
    /// (or of an unrecorded version) must be redone.
    pub code_of_conduct_versions: Vec<i64>,
    /// How many days before an expiry the reminder e-mails go out, e.g. `[30, 15, 7, 1]`.
    pub reminder_days: Vec<i64>,
}

impl Default for AccessPolicy {
    /// One year of validity, code of conduct version 1, reminders 30, 15, 7 and 1 day ahead.
    fn default() -> Self {
        Self {
            expiry_days: 365,
            code_of_conduct_versions: vec![1],
            reminder_days: vec![30, 15, 7, 1],
        }
    }
}

impl AccessPolicy {
    /// The expiry period in seconds.
    fn expiry_seconds(&self) -> i64 {
        self.expiry_days.saturating_mul(SECONDS_PER_DAY)
    }

    /// The largest reminder threshold, in days (0 when there are no reminders).
    fn largest_reminder_days(&self) -> i64 {
        self.reminder_days.iter().copied().max().unwrap_or(0).max(0)
    }
}

/// Where one researcher stands on one module at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ModuleStatus {
    /// Never completed.
    NotStarted,
    /// Completed and still counting. `expires_at` is `None` for modules that never expire.
    Completed {
        completed_at: i64,
        expires_at: Option<i64>,
    },
    /// An administrator exempted the researcher; this always counts and never expires.
    Bypassed { at: i64 },
    /// Completed once, but the completion has lapsed.
    Expired { completed_at: i64, expired_at: i64 },
    /// The code of conduct was signed, but in a version that no longer counts.
    OutdatedVersion { completed_at: i64 },
}

impl ModuleStatus {
    /// Whether this status satisfies the module's requirement: completed and current, or
    /// bypassed.
    pub fn is_compliant(&self) -> bool {
        matches!(
            self,
            ModuleStatus::Completed { .. } | ModuleStatus::Bypassed { .. }
        )
    }
}

/// Where a researcher stands on `module` at time `now`.
///
/// Rules, in order:
/// 1. No record (or a record for another module), or no completion: [`ModuleStatus::NotStarted`],
///    unless bypassed.
/// 2. A bypass wins over everything else, whatever the completion or the time.
/// 3. A code of conduct signed in a version the policy does not list (or with no recorded
///    version) is [`ModuleStatus::OutdatedVersion`].
/// 4. An expiring module lapses `policy.expiry_days` days after completion: from that exact
///    second on it is [`ModuleStatus::Expired`].
/// 5. Otherwise it is [`ModuleStatus::Completed`].
pub fn module_status(
    module: AccessModule,
    record: Option<&ModuleRecord>,
    policy: &AccessPolicy,
    now: i64,
) -> ModuleStatus {
    let Some(record) = record.filter(|r| r.module == module) else {
        return ModuleStatus::NotStarted;
    };
    if let Some(at) = record.bypassed_at {
        return ModuleStatus::Bypassed { at };
    }
    let Some(completed_at) = record.completed_at else {
        return ModuleStatus::NotStarted;
    };
    if module == AccessModule::CodeOfConduct
        && !record
            .version
            .is_some_and(|v| policy.code_of_conduct_versions.contains(&v))
    {
        return ModuleStatus::OutdatedVersion { completed_at };
    }
    if !module.expires() {
        return ModuleStatus::Completed {
            completed_at,
            expires_at: None,
        };
    }
    let expires_at = completed_at.saturating_add(policy.expiry_seconds());
    if now >= expires_at {
        ModuleStatus::Expired {
            completed_at,
            expired_at: expires_at,
        }
    } else {
        ModuleStatus::Completed {
            completed_at,
            expires_at: Some(expires_at),
        }
    }
}

/// Everything about one researcher that decides their access, besides the clock and policy.
#[derive(Debug, Clone, Copy)]
pub struct AccessFacts<'a> {
    /// An administrator disabled the account; a disabled account has no access at all.
    pub disabled: bool,
    /// The researcher's institution covers their e-mail address for the Registered Tier.
    pub registered_email_eligible: bool,
    /// The researcher's institution covers their e-mail address for the Controlled Tier.
    pub controlled_email_eligible: bool,
    /// The researcher's module records, in any order. Only the first record of each module is
    /// used.
    pub modules: &'a [ModuleRecord],
}

impl AccessFacts<'_> {
    /// The record for `module`, if there is one.
    fn record(&self, module: AccessModule) -> Option<&ModuleRecord> {
        self.modules.iter().find(|r| r.module == module)
    }

    /// The status of `module` at `now`.
    fn status(&self, module: AccessModule, policy: &AccessPolicy, now: i64) -> ModuleStatus {
        module_status(module, self.record(module), policy, now)
    }

    /// Whether the e-mail address is covered for `tier`.
    fn email_eligible(&self, tier: AccessTier) -> bool {
        match tier {
            AccessTier::Registered => self.registered_email_eligible,
            AccessTier::Controlled => self.controlled_email_eligible,
        }
    }
}

/// The modules `tier` needs that the researcher has not satisfied at `now` (not started,
/// expired, or signed in an outdated version), in registration order. Empty when every
/// required module is completed or bypassed. This says nothing about disabled accounts or
/// e-mail eligibility; see [`granted_tiers`].
pub fn missing_for(
    tier: AccessTier,
    facts: &AccessFacts,
    policy: &AccessPolicy,
    now: i64,
) -> Vec<AccessModule> {
    AccessModule::REGISTRATION_ORDER
        .iter()
        .copied()
        .filter(|m| m.required_for(tier) && !facts.status(*m, policy, now).is_compliant())
        .collect()
}

/// The tiers the researcher may use at `now`, in order `[Registered, Controlled]`.
///
/// The Registered Tier is granted when the account is not disabled, the e-mail address is
/// eligible for it and every module it needs is completed or bypassed. The Controlled Tier is
/// granted only on top of the Registered Tier, when the address is also eligible for it and
/// every module it needs is completed or bypassed.
pub fn granted_tiers(facts: &AccessFacts, policy: &AccessPolicy, now: i64) -> Vec<AccessTier> {
    let mut tiers = Vec::new();
    if facts.disabled {
        return tiers;
    }
    for tier in [AccessTier::Registered, AccessTier::Controlled] {
        if facts.email_eligible(tier) && missing_for(tier, facts, policy, now).is_empty() {
            tiers.push(tier);
        } else {
            // Each tier builds on the one before it.
            break;
        }
    }
    tiers
}

/// When the researcher's `tier` access will lapse if nothing is renewed: the earliest expiry
/// among the modules the tier needs that expire, are completed and are not bypassed. `None`
/// when no such module exists (nothing the tier needs ever expires). The result may lie in the
/// past; whether the tier is granted now is [`granted_tiers`]' question.
pub fn tier_expires_at(
    tier: AccessTier,
    facts: &AccessFacts,
    policy: &AccessPolicy,
) -> Option<i64> {
    AccessModule::REGISTRATION_ORDER
        .iter()
        .copied()
        .filter(|m| m.required_for(tier) && m.expires())
        .filter_map(|m| facts.record(m))
        .filter(|r| r.bypassed_at.is_none())
        .filter_map(|r| r.completed_at)
        .map(|c| c.saturating_add(policy.expiry_seconds()))
        .min()
}

/// Which expiry reminder to send at `now`, as its number of days before `expires_at` (one of
/// `policy.reminder_days`), or `None` when no reminder is due.
///
/// The *current* threshold is the smallest `d` whose window has opened
/// (`now >= expires_at - d days`) while the expiry has not yet come (`now < expires_at`). It is
/// due unless it is in `already_sent`. Larger thresholds that passed while no reminder went out
/// (say the server was down) are skipped, so a researcher gets one e-mail, not a burst. The
/// function is idempotent: once the returned value is recorded in `already_sent`, it returns
/// `None` until the next threshold opens. `already_sent` should hold the reminders sent for
/// this `expires_at` only (clear it when the module is renewed). Nothing is due at or after
/// the expiry.
pub fn reminder_due(
    expires_at: i64,
    now: i64,
    already_sent: &[i64],
    policy: &AccessPolicy,
) -> Option<i64> {
    if now >= expires_at {
        return None;
    }
    let current = policy
        .reminder_days
        .iter()
        .copied()
        .filter(|&d| now >= expires_at.saturating_sub(d.saturating_mul(SECONDS_PER_DAY)))
        .min()?;
    (!already_sent.contains(&current)).then_some(current)
}

/// Whether the researcher may renew `module` at `now`. Only modules that expire are renewed:
/// they may be redone when they do not currently count (not started, expired, outdated) or
/// when they expire within the largest reminder threshold (30 days by default). A bypassed
/// module never needs renewing, and a module that never expires is never renewed.
pub fn renewal_open(
    module: AccessModule,
    record: Option<&ModuleRecord>,
    policy: &AccessPolicy,
    now: i64,
) -> bool {
    if !module.expires() {
        return false;
    }
    match module_status(module, record, policy, now) {
        ModuleStatus::Bypassed { .. } => false,
        ModuleStatus::Completed {
            expires_at: Some(expires_at),
            ..
        } => {
            now >= expires_at.saturating_sub(
                policy
                    .largest_reminder_days()
                    .saturating_mul(SECONDS_PER_DAY),
            )
        }
        ModuleStatus::Completed {
            expires_at: None, ..
        } => false,
        ModuleStatus::NotStarted
        | ModuleStatus::Expired { .. }
        | ModuleStatus::OutdatedVersion { .. } => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = SECONDS_PER_DAY;
    const T0: i64 = 1_700_000_000;

    fn done(module: AccessModule, at: i64) -> ModuleRecord {
        ModuleRecord {
            module,
            completed_at: Some(at),
            bypassed_at: None,
            version: (module == AccessModule::CodeOfConduct).then_some(1),
        }
    }

    fn all_done(at: i64) -> Vec<ModuleRecord> {
        AccessModule::ALL.iter().map(|&m| done(m, at)).collect()
    }

    fn facts(modules: &[ModuleRecord]) -> AccessFacts<'_> {
        AccessFacts {
            disabled: false,
            registered_email_eligible: true,
            controlled_email_eligible: true,
            modules,
        }
    }

    #[test]
    fn module_table() {
        use AccessModule::*;
        assert_eq!(AccessModule::REGISTRATION_ORDER, AccessModule::ALL);
        for m in AccessModule::ALL {
            assert_eq!(AccessModule::from_code(m.code()), Some(*m));
            assert!(m.required_for(AccessTier::Controlled));
        }
        assert!(!CtTraining.required_for(AccessTier::Registered));
        let expiring: Vec<_> = AccessModule::ALL.iter().filter(|m| m.expires()).collect();
        assert_eq!(
            expiring,
            [
                &RtTraining,
                &CtTraining,
                &CodeOfConduct,
                &ProfileConfirmation
            ]
        );
        assert_eq!(AccessPolicy::default().expiry_days, 365);
    }

    #[test]
    fn expiry_boundary_is_exact() {
        let p = AccessPolicy::default();
        let r = done(AccessModule::RtTraining, T0);
        let exp = T0 + 365 * DAY;
        assert_eq!(
            module_status(AccessModule::RtTraining, Some(&r), &p, exp - 1),
            ModuleStatus::Completed {
                completed_at: T0,
                expires_at: Some(exp)
            }
        );
        assert_eq!(
            module_status(AccessModule::RtTraining, Some(&r), &p, exp),
            ModuleStatus::Expired {
                completed_at: T0,
                expired_at: exp
            }
        );
        // Non-expiring modules never lapse.
        let r = done(AccessModule::Identity, T0);
        assert!(module_status(AccessModule::Identity, Some(&r), &p, exp + 10 * DAY).is_compliant());
        // Granted tiers follow the boundary.
        let mods = all_done(T0);
        let f = facts(&mods);
        assert_eq!(granted_tiers(&f, &p, exp - 1).len(), 2);
        assert!(granted_tiers(&f, &p, exp).is_empty());
        assert_eq!(tier_expires_at(AccessTier::Controlled, &f, &p), Some(exp));
    }

    #[test]
    fn not_started_and_mismatched_record() {
        let p = AccessPolicy::default();
        assert_eq!(
            module_status(AccessModule::Identity, None, &p, T0),
            ModuleStatus::NotStarted
        );
        let other = done(AccessModule::TwoFactor, T0);
        assert_eq!(
            module_status(AccessModule::Identity, Some(&other), &p, T0),
            ModuleStatus::NotStarted
        );
    }

    #[test]
    fn bypass_wins() {
        let p = AccessPolicy::default();
        let mut r = done(AccessModule::CodeOfConduct, T0);
        r.version = Some(99);
        r.bypassed_at = Some(T0 + 5);
        let late = T0 + 10 * 365 * DAY;
        assert_eq!(
            module_status(AccessModule::CodeOfConduct, Some(&r), &p, late),
            ModuleStatus::Bypassed { at: T0 + 5 }
        );
        let mut mods = all_done(T0);
        for m in &mut mods {
            m.bypassed_at = Some(T0);
        }
        let f = facts(&mods);
        assert_eq!(granted_tiers(&f, &p, late).len(), 2);
        assert_eq!(tier_expires_at(AccessTier::Controlled, &f, &p), None);
        assert!(!renewal_open(
            AccessModule::RtTraining,
            Some(&mods[2]),
            &p,
            late
        ));
    }

    #[test]
    fn outdated_code_of_conduct_version() {
        let p = AccessPolicy {
            code_of_conduct_versions: vec![2, 3],
            ..AccessPolicy::default()
        };
        let mut mods = all_done(T0);
        let coc = AccessModule::CodeOfConduct;
        assert_eq!(
            module_status(coc, Some(&mods[4]), &p, T0),
            ModuleStatus::OutdatedVersion { completed_at: T0 }
        );
        assert_eq!(
            missing_for(AccessTier::Registered, &facts(&mods), &p, T0),
            [coc]
        );
        assert!(granted_tiers(&facts(&mods), &p, T0).is_empty());
        assert!(renewal_open(coc, Some(&mods[4]), &p, T0));
        mods[4].version = None;
        assert!(!module_status(coc, Some(&mods[4]), &p, T0).is_compliant());
        mods[4].version = Some(3);
        assert_eq!(granted_tiers(&facts(&mods), &p, T0).len(), 2);
        // The version only matters for the code of conduct.
        let mut r = done(AccessModule::RtTraining, T0);
        r.version = Some(42);
        assert!(module_status(AccessModule::RtTraining, Some(&r), &p, T0).is_compliant());
    }

    #[test]
    fn disabled_user_has_no_access() {
        let p = AccessPolicy::default();
        let mods = all_done(T0);
        let f = AccessFacts {
            disabled: true,
            ..facts(&mods)
        };
        assert!(granted_tiers(&f, &p, T0).is_empty());
        // Nothing is missing: the account itself is the problem.
        assert!(missing_for(AccessTier::Controlled, &f, &p, T0).is_empty());
    }

    #[test]
    fn ineligible_email() {
        let p = AccessPolicy::default();
        let mods = all_done(T0);
        let f = AccessFacts {
            controlled_email_eligible: false,
            ..facts(&mods)
        };
        assert_eq!(granted_tiers(&f, &p, T0), [AccessTier::Registered]);
        let f = AccessFacts {
            registered_email_eligible: false,
            ..facts(&mods)
        };
        assert!(granted_tiers(&f, &p, T0).is_empty());
    }

    #[test]
    fn controlled_needs_registered() {
        let p = AccessPolicy::default();
        // Everything done, CT-eligible, but not RT-eligible: no CT.
        let mods = all_done(T0);
        let f = AccessFacts {
            registered_email_eligible: false,
            ..facts(&mods)
        };
        assert!(missing_for(AccessTier::Controlled, &f, &p, T0).is_empty());
        assert!(!granted_tiers(&f, &p, T0).contains(&AccessTier::Controlled));
        // CT training missing: RT only, and CT lists exactly that module.
        let mods: Vec<_> = all_done(T0)
            .into_iter()
            .filter(|r| r.module != AccessModule::CtTraining)
            .collect();
        let f = facts(&mods);
        assert_eq!(granted_tiers(&f, &p, T0), [AccessTier::Registered]);
        assert_eq!(
            missing_for(AccessTier::Controlled, &f, &p, T0),
            [AccessModule::CtTraining]
        );
    }

    #[test]
    fn missing_is_in_registration_order() {
        let p = AccessPolicy::default();
        let mods = vec![done(AccessModule::Identity, T0)];
        assert_eq!(
            missing_for(AccessTier::Registered, &facts(&mods), &p, T0),
            [
                AccessModule::TwoFactor,
                AccessModule::RtTraining,
                AccessModule::CodeOfConduct,
                AccessModule::ProfileConfirmation
            ]
        );
    }

    #[test]
    fn tier_expiry_is_earliest_required() {
        let p = AccessPolicy::default();
        let mut mods = all_done(T0);
        mods[3].completed_at = Some(T0 - 100 * DAY); // CT training, older
        mods[5].completed_at = Some(T0 - 10 * DAY); // profile confirmation
        let f = facts(&mods);
        assert_eq!(
            tier_expires_at(AccessTier::Registered, &f, &p),
            Some(T0 - 10 * DAY + 365 * DAY)
        );
        assert_eq!(
            tier_expires_at(AccessTier::Controlled, &f, &p),
            Some(T0 - 100 * DAY + 365 * DAY)
        );
        let only_fixed = vec![
            done(AccessModule::TwoFactor, T0),
            done(AccessModule::Identity, T0),
        ];
        assert_eq!(
            tier_expires_at(AccessTier::Registered, &facts(&only_fixed), &p),
            None
        );
    }

    #[test]
    fn reminders() {
        let p = AccessPolicy::default();
        let exp = T0 + 100 * DAY;
        assert_eq!(reminder_due(exp, exp - 31 * DAY, &[], &p), None);
        assert_eq!(reminder_due(exp, exp - 30 * DAY, &[], &p), Some(30));
        assert_eq!(reminder_due(exp, exp - 20 * DAY, &[30], &p), None);
        assert_eq!(reminder_due(exp, exp - 15 * DAY, &[30], &p), Some(15));
        // Server down from day 30 to day 5: one e-mail (7), then nothing until day 1.
        assert_eq!(reminder_due(exp, exp - 5 * DAY, &[], &p), Some(7));
        assert_eq!(reminder_due(exp, exp - 5 * DAY, &[7], &p), None);
        assert_eq!(reminder_due(exp, exp - 2 * DAY, &[7], &p), None);
        assert_eq!(reminder_due(exp, exp - DAY, &[7], &p), Some(1));
        assert_eq!(reminder_due(exp, exp - 1, &[7, 1], &p), None);
        // Never at or after expiry.
        assert_eq!(reminder_due(exp, exp, &[], &p), None);
        assert_eq!(reminder_due(exp, exp + DAY, &[], &p), None);
        let none = AccessPolicy {
            reminder_days: vec![],
            ..p
        };
        assert_eq!(reminder_due(exp, exp - 1, &[], &none), None);
    }

    #[test]
    fn renewal_window() {
        let p = AccessPolicy::default();
        let m = AccessModule::RtTraining;
        let r = done(m, T0);
        let exp = T0 + 365 * DAY;
        assert!(!renewal_open(m, Some(&r), &p, T0));
        assert!(!renewal_open(m, Some(&r), &p, exp - 30 * DAY - 1));
        assert!(renewal_open(m, Some(&r), &p, exp - 30 * DAY));
        assert!(renewal_open(m, Some(&r), &p, exp + DAY));
        assert!(renewal_open(m, None, &p, T0));
        // Modules that never expire are never renewed.
        assert!(!renewal_open(AccessModule::TwoFactor, None, &p, T0));
        let r = done(AccessModule::Identity, T0);
        assert!(!renewal_open(AccessModule::Identity, Some(&r), &p, exp));
    }

    // ---- property tests ----

    const SPAN: i64 = 3 * 365 * DAY;

    fn arb_record(module: AccessModule) -> impl Strategy<Value = ModuleRecord> {
        (
            prop::option::weighted(0.8, T0 - SPAN..T0 + SPAN),
            prop::option::weighted(0.15, T0 - SPAN..T0 + SPAN),
            prop::option::of(0i64..4),
        )
            .prop_map(move |(completed_at, bypassed_at, version)| ModuleRecord {
                module,
                completed_at,
                bypassed_at,
                version,
            })
    }

    fn arb_records() -> impl Strategy<Value = Vec<ModuleRecord>> {
        let per_module: Vec<_> = AccessModule::ALL
            .iter()
            .map(|&m| prop::option::weighted(0.9, arb_record(m)))
            .collect();
        (per_module, any::<prop::sample::Index>()).prop_map(|(recs, rot)| {
            let mut v: Vec<_> = recs.into_iter().flatten().collect();
            if !v.is_empty() {
                let k = rot.index(v.len());
                v.rotate_left(k);
            }
            v
        })
    }

    fn arb_policy() -> impl Strategy<Value = AccessPolicy> {
        (
            1i64..800,
            prop::collection::btree_set(0i64..4, 0..3),
            prop::collection::btree_set(1i64..60, 0..6),
        )
            .prop_map(|(expiry_days, versions, reminders)| AccessPolicy {
                expiry_days,
                code_of_conduct_versions: versions.into_iter().collect(),
                reminder_days: reminders.into_iter().rev().collect(),
            })
    }

    fn arb_flags() -> impl Strategy<Value = (bool, bool, bool)> {
        (
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.9),
            prop::bool::weighted(0.8),
        )
    }

    proptest! {
        /// The Controlled Tier is never granted without the Registered Tier, and the result
        /// is sorted.
        #[test]
        fn controlled_implies_registered(recs in arb_records(), p in arb_policy(),
                                         (d, re, ce) in arb_flags(),
                                         now in T0 - SPAN..T0 + 2 * SPAN) {
            let f = AccessFacts { disabled: d, registered_email_eligible: re,
                                  controlled_email_eligible: ce, modules: &recs };
            let g = granted_tiers(&f, &p, now);
            if g.contains(&AccessTier::Controlled) {
                prop_assert!(g.contains(&AccessTier::Registered));
            }
            prop_assert!(g.windows(2).all(|w| w[0] < w[1]));
        }

        /// A tier is granted exactly when nothing is missing for it (and for the tiers below),
        /// the account is enabled and the address is eligible.
        #[test]
        fn granted_iff_nothing_missing(recs in arb_records(), p in arb_policy(),
                                       (d, re, ce) in arb_flags(),
                                       now in T0 - SPAN..T0 + 2 * SPAN) {
            let f = AccessFacts { disabled: d, registered_email_eligible: re,
                                  controlled_email_eligible: ce, modules: &recs };
            let g = granted_tiers(&f, &p, now);
            let rt_missing = missing_for(AccessTier::Registered, &f, &p, now);
            let ct_missing = missing_for(AccessTier::Controlled, &f, &p, now);
            for (tier, missing) in [(AccessTier::Registered, &rt_missing),
                                    (AccessTier::Controlled, &ct_missing)] {
                if !missing.is_empty() {
                    prop_assert!(!g.contains(&tier));
                }
                prop_assert!(missing.windows(2).all(|w| w[0] < w[1]));
            }
            let rt = !d && re && rt_missing.is_empty();
            prop_assert_eq!(g.contains(&AccessTier::Registered), rt);
            prop_assert_eq!(g.contains(&AccessTier::Controlled),
                            rt && ce && ct_missing.is_empty());
            // What RT misses, CT misses too.
            prop_assert!(rt_missing.iter().all(|m| ct_missing.contains(m)));
        }

        /// A bypassed module counts whatever its completion, version, policy or time.
        #[test]
        fn bypassed_is_compliant(mut r in arb_record(AccessModule::CodeOfConduct),
                                 i in 0..AccessModule::ALL.len(),
                                 at in any::<i64>(), p in arb_policy(), now in any::<i64>()) {
            r.module = AccessModule::ALL[i];
            r.bypassed_at = Some(at);
            let s = module_status(r.module, Some(&r), &p, now);
            prop_assert!(s.is_compliant());
            prop_assert_eq!(s, ModuleStatus::Bypassed { at });
        }

        /// With unchanged records, time only takes access away.
        #[test]
        fn time_only_removes_access(recs in arb_records(), p in arb_policy(),
                                    (d, re, ce) in arb_flags(),
                                    t1 in T0 - SPAN..T0 + 2 * SPAN, dt in 0i64..2 * SPAN) {
            let f = AccessFacts { disabled: d, registered_email_eligible: re,
                                  controlled_email_eligible: ce, modules: &recs };
            let earlier = granted_tiers(&f, &p, t1);
            let later = granted_tiers(&f, &p, t1 + dt);
            prop_assert!(later.iter().all(|t| earlier.contains(t)),
                         "{:?} at {} but {:?} at {}", earlier, t1, later, t1 + dt);
            // A granted tier stays granted strictly before its expiry.
            for t in &earlier {
                if let Some(exp) = tier_expires_at(*t, &f, &p) {
                    prop_assert!(t1 < exp);
                    prop_assert!(granted_tiers(&f, &p, exp - 1).contains(t));
                    prop_assert!(!granted_tiers(&f, &p, exp).contains(t));
                }
            }
        }

        /// A reminder is never one already sent, never at or after expiry, and always one of
        /// the policy's thresholds.
        #[test]
        fn reminder_never_repeats_or_lateness(p in arb_policy(),
                                              sent in prop::collection::vec(0i64..60, 0..5),
                                              exp in T0 - SPAN..T0 + SPAN,
                                              now in T0 - SPAN..T0 + SPAN) {
            if let Some(d) = reminder_due(exp, now, &sent, &p) {
                prop_assert!(!sent.contains(&d));
                prop_assert!(now < exp);
                prop_assert!(p.reminder_days.contains(&d));
                prop_assert!(now >= exp - d * DAY);
                // Idempotent: recording it silences the same moment.
                let mut after = sent.clone();
                after.push(d);
                prop_assert_eq!(reminder_due(exp, now, &after, &p), None);
            }
        }

        /// Daily calls that send and record whatever is due: each threshold goes out exactly
        /// once, largest first, and nothing goes out after the expiry. With outages (skipped
        /// days) a threshold is still sent at most once.
        #[test]
        fn daily_reminders_once_each(p in arb_policy(), offset in 0i64..DAY,
                                     down in prop::collection::vec(any::<bool>(), 100)) {
            let exp = T0 + offset;
            for with_outages in [false, true] {
                let mut sent: Vec<i64> = Vec::new();
                for day in 0..100i64 {
                    let now = T0 - 70 * DAY + day * DAY;
                    if with_outages && down[day as usize] {
                        continue;
                    }
                    if let Some(d) = reminder_due(exp, now, &sent, &p) {
                        prop_assert!(now < exp);
                        prop_assert!(!sent.contains(&d));
                        prop_assert!(sent.last().is_none_or(|&prev| d < prev));
                        sent.push(d);
                    }
                }
                if !with_outages {
                    let mut expected = p.reminder_days.clone();
                    expected.sort_by(|a, b| b.cmp(a));
                    prop_assert_eq!(&sent, &expected);
                }
            }
        }
    }
}
