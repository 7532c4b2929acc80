//! The store conformance suite: every test runs on SQLite, and on PostgreSQL when
//! `WB_TEST_POSTGRES_URL` names a server (the test command starts one).

use wb_domain::choices::Role;
use wb_domain::signup::{Affiliation, ProfileDetails, Step2Input, validate_step2};
use wb_domain::{
    AccessTier, AgreementType, EmailAddress, Institution, MembershipRequirement, OrganizationType,
    TierRequirement,
};
use wb_store::{NewSession, ResetTokenError, SessionStage, Store, StoreError};

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(wb_store::testing::sqlite().await).await })*
        }
        mod postgres {
            $(#[tokio::test]
            #[ignore = "needs PostgreSQL: set WB_TEST_POSTGRES_URL (scripts/test starts one and runs these)"]
            async fn $name() {
                if let Some(s) = wb_store::testing::postgres().await { super::$name(s).await }
            })*
        }
    };
}

conformance!(
    migrations_are_idempotent,
    institutions_round_trip,
    institution_with_members_cannot_be_deleted,
    users_are_unique_by_username_and_email,
    passwords_and_first_sign_in,
    reset_tokens_are_single_use_and_expire,
    sessions_expire_and_idle_out,
    throttle_follows_the_domain_rule,
    parallel_tries_never_pass_the_limit,
    job_leases_have_one_holder,
    parallel_member_changes_keep_the_invariants,
    parallel_grants_and_tier_records_happen_once,
    institution_requests_and_audit,
    access_modules_complete_bypass_and_reset,
    totp_steps_and_recovery_codes_are_single_use,
    identities_bind_to_one_account,
    reminders_and_tier_changes_are_recorded_once,
    assessment_attempts_submit_once,
    parallel_attempt_starts_keep_the_daily_limit,
    cdr_versions_keep_one_default_per_tier,
    cdr_data_is_attached_once,
    workspaces_members_directory_and_soft_delete,
    credit_ledger_is_append_only_and_checked,
    billing_accounts_and_training_groups,
    profile_edits_save_changes_audit_and_confirm,
    identity_requests_are_one_open_per_user,
    cohorts_are_scoped_revised_counted_and_drafted,
);

async fn cohorts_are_scoped_revised_counted_and_drafted(store: Store) {
    use wb_store::{CohortUpdate, CohortWrite};
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let ada = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    let cdr = store
        .register_cdr_version("Registered Tier Dataset v7", "registered", true, None, 10)
        .await
        .unwrap();
    let ws = |ns: &'static str| wb_store::NewWorkspace {
        namespace: ns,
        name: ns,
        creator_user_id: ada,
        tier: "registered",
        cdr_version_id: cdr,
        billing_account_id: None,
        research_purpose: "{}",
        review_requested: false,
        initial_credits_cents: None,
        now: 100,
    };
    let a = store.create_workspace(&ws("wb-a")).await.unwrap();
    let b = store.create_workspace(&ws("wb-b")).await.unwrap();
    let write = |workspace_id, name, def| CohortWrite {
        workspace_id,
        name,
        description: "Adults with type 2 diabetes",
        definition: def,
        definition_hash: def,
        user_id: ada,
        actor: "user:ada",
        now: 200,
    };
    store
        .save_cohort_draft(a, ada, None, "{draft}", 150)
        .await
        .unwrap();
    let c = store
        .create_cohort(&write(a, "T2D adults", "h1"))
        .await
        .unwrap();
    assert_eq!(c.revision, 1);
    assert_eq!(
        store.cohort_draft(a, ada, None).await.unwrap(),
        None,
        "saving removes the new-cohort draft"
    );
    // Names are unique per workspace, ignoring case; another workspace may reuse one.
    assert!(matches!(
        store.create_cohort(&write(a, " t2d ADULTS", "h2")).await,
        Err(StoreError::Conflict("name"))
    ));
    store
        .create_cohort(&write(b, "T2D adults", "h1"))
        .await
        .unwrap();
    // Scoped: another workspace's id is not found, for reads, saves and deletes.
    assert_eq!(store.cohort(b, c.id).await.unwrap(), None);
    assert!(matches!(
        store.update_cohort(c.id, 1, &write(b, "x", "h")).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        !store
            .delete_cohort(b, c.id, ada, "user:ada", 300)
            .await
            .unwrap()
    );
    // Two saves of revision 1 at once: exactly one wins, the other learns it is stale.
    let names = [
        "T2D adults v2",
        "T2D adults v3",
        "T2D adults v4",
        "T2D adults v5",
    ];
    let saves = names.map(|n| {
        let store = store.clone();
        let w = CohortWrite {
            name: n,
            ..write(a, n, "h2")
        };
        let (name, hash) = (w.name.to_owned(), w.definition_hash.to_owned());
        tokio::spawn(async move {
            let w = CohortWrite {
                name: &name,
                definition_hash: &hash,
                definition: &hash,
                ..w
            };
            store.update_cohort(c.id, 1, &w).await
        })
    });
    let mut saved = 0;
    for s in saves {
        match s.await.unwrap().unwrap() {
            CohortUpdate::Saved(r) => {
                saved += 1;
                assert_eq!(r.revision, 2);
            }
            CohortUpdate::Stale { current } => assert_eq!(current.revision, 2),
        }
    }
    assert_eq!(saved, 1);
    let now = store.cohort(a, c.id).await.unwrap().unwrap();
    assert_eq!(now.definition_hash, "h2");
    // A count of an older definition is dropped; one of the saved definition is kept and
    // is current for its dataset version only.
    assert!(
        !store
            .record_cohort_count(a, c.id, "h1", cdr, 5000, 400)
            .await
            .unwrap()
    );
    assert!(
        store
            .record_cohort_count(a, c.id, "h2", cdr, 4321, 400)
            .await
            .unwrap()
    );
    let counted = store.cohort(a, c.id).await.unwrap().unwrap();
    assert_eq!(counted.count_total, Some(4321));
    assert!(counted.count_is_current(cdr));
    assert!(!counted.count_is_current(cdr + 1));
    // Drafts: one per user and cohort, the last write kept, even from parallel autosaves.
    let autosaves: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .save_cohort_draft(a, ada, Some(c.id), &format!("{{\"n\":{i}}}"), 500 + i)
                    .await
            })
        })
        .collect();
    for t in autosaves {
        t.await.unwrap().unwrap();
    }
    let (draft, _) = store
        .cohort_draft(a, ada, Some(c.id))
        .await
        .unwrap()
        .unwrap();
    assert!(draft.starts_with("{\"n\":"), "{draft}");
    assert_eq!(store.cohort_draft(a, ada, None).await.unwrap(), None);
    // Deleting removes the cohort and its drafts, and is audited.
    assert!(
        store
            .delete_cohort(a, c.id, ada, "user:ada", 600)
            .await
            .unwrap()
    );
    assert_eq!(store.cohort(a, c.id).await.unwrap(), None);
    assert_eq!(store.cohort_draft(a, ada, Some(c.id)).await.unwrap(), None);
    let actions: Vec<String> = store
        .audit_for_user(ada)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .filter(|a| a.starts_with("cohort."))
        .collect();
    assert_eq!(
        actions,
        [
            "cohort.created",
            "cohort.created",
            "cohort.updated",
            "cohort.deleted"
        ]
    );
    assert_eq!(store.cohorts(a).await.unwrap().len(), 0);
    assert_eq!(store.cohorts(b).await.unwrap().len(), 1);
}

async fn profile_edits_save_changes_audit_and_confirm(store: Store) {
    use wb_domain::access::AccessModule;
    use wb_domain::signup::ProfileSection;
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let ada = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    let before = store.user_by_id(ada).await.unwrap().unwrap();
    let audits = |s: Store| async move {
        s.audit_for_user(ada)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "profile.updated")
            .collect::<Vec<_>>()
    };
    // Saving the stored profile unchanged changes nothing and audits nothing, but confirms it.
    let same = before.profile_edit();
    let update = |edit, now| wb_store::ProfileUpdate {
        user_id: ada,
        edit,
        now,
        actor: "user:ada",
        ip: Some("127.0.0.1"),
    };
    let changes = store.update_profile(&update(&same, 2_000)).await.unwrap();
    assert!(changes.is_empty());
    assert!(audits(store.clone()).await.is_empty());
    let confirmed = |s: Store| async move {
        s.module_records(ada)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.module == AccessModule::ProfileConfirmation)
            .and_then(|r| r.completed_at)
    };
    assert_eq!(confirmed(store.clone()).await, Some(2_000));
    // A real change is written, audited once with the sections, and confirms again.
    let mut edit = same.clone();
    edit.address.city = "Faribault".into();
    edit.research_background = "Dialysis outcomes.".into();
    edit.demographics.year_of_birth = None;
    edit.demographics.year_of_birth_prefer_not = true;
    let changes = store.update_profile(&update(&edit, 3_000)).await.unwrap();
    assert_eq!(
        changes,
        [
            ProfileSection::Address,
            ProfileSection::ResearchBackground,
            ProfileSection::Demographics
        ]
    );
    let after = store.user_by_id(ada).await.unwrap().unwrap();
    assert_eq!(after.address.city, "Faribault");
    assert_eq!(after.research_background, "Dialysis outcomes.");
    assert!(after.demographics.year_of_birth_prefer_not);
    assert_eq!(
        after.username, before.username,
        "the username is not touched"
    );
    assert_eq!(after.contact_email, before.contact_email);
    let rows = audits(store.clone()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].detail, "address,research_background,demographics");
    assert_eq!(confirmed(store.clone()).await, Some(3_000));
    assert!(matches!(
        store
            .update_profile(&wb_store::ProfileUpdate {
                user_id: 9_999,
                ..update(&edit, 4_000)
            })
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn identity_requests_are_one_open_per_user(store: Store) {
    use wb_domain::access::AccessModule;
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let ada = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    let grace = create(&store, "grace", "grace@northfield.example")
        .await
        .unwrap();
    assert_eq!(store.open_identity_request(ada).await.unwrap(), None);
    // Twenty requests at once make one row; every caller learns when it was made.
    let tries: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.request_identity_verification(ada, 100 + i).await })
        })
        .collect();
    let mut created = 0;
    let mut times = Vec::new();
    for t in tries {
        let (c, at) = t.await.unwrap().unwrap();
        created += i32::from(c);
        times.push(at);
    }
    assert_eq!(created, 1);
    assert!(times.windows(2).all(|w| w[0] == w[1]), "{times:?}");
    let at = times[0];
    assert_eq!(store.open_identity_request(ada).await.unwrap(), Some(at));
    assert_eq!(
        store
            .request_identity_verification(grace, 500)
            .await
            .unwrap(),
        (true, 500)
    );
    let open = store.open_identity_requests().await.unwrap();
    assert_eq!(
        open.iter().map(|r| r.username.as_str()).collect::<Vec<_>>(),
        ["ada", "grace"]
    );
    assert_eq!(open[0].contact_email, "ada@northfield.example");
    // An open request is unique in the database itself, not only through the store's insert.
    let dup = sqlx::query("INSERT INTO identity_requests (user_id, requested_at) VALUES ($1, 1)")
        .bind(ada)
        .execute(store.pool())
        .await;
    assert!(
        dup.is_err(),
        "a second open request is refused by the database"
    );
    // Resolving completes the module and closes the request; a new one may then be opened.
    assert!(
        store
            .verify_identity_manually(ada, "admin-cli", 600)
            .await
            .unwrap()
    );
    assert!(
        !store
            .verify_identity_manually(ada, "admin-cli", 601)
            .await
            .unwrap(),
        "nothing left to resolve"
    );
    assert_eq!(store.open_identity_request(ada).await.unwrap(), None);
    assert!(
        store
            .module_records(ada)
            .await
            .unwrap()
            .iter()
            .any(|r| r.module == AccessModule::Identity && r.completed_at.is_some())
    );
    assert_eq!(store.open_identity_requests().await.unwrap().len(), 1);
    assert!(
        store
            .request_identity_verification(ada, 700)
            .await
            .unwrap()
            .0
    );
}

async fn billing_accounts_and_training_groups(store: Store) {
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let ada = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    let grace = create(&store, "grace", "grace@northfield.example")
        .await
        .unwrap();
    let b = store
        .create_billing_account("Lab grant 42", ada, Some(50_000), &[grace, ada], 10)
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_billing_account("Lab grant 42", grace, None, &[], 11)
            .await,
        Err(StoreError::Conflict("name"))
    ));
    assert_eq!(store.billing_accounts_of(grace).await.unwrap()[0].id, b);
    assert_eq!(
        store
            .billing_account(b)
            .await
            .unwrap()
            .unwrap()
            .budget_cents,
        Some(50_000)
    );
    let g = store
        .create_training_group("Methods 101", ada, "JOIN-1234", 20)
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_training_group("Other", ada, "JOIN-1234", 21)
            .await,
        Err(StoreError::Conflict("join_code"))
    ));
    assert_eq!(
        store
            .training_group_by_code("JOIN-1234")
            .await
            .unwrap()
            .unwrap()
            .id,
        g
    );
    assert!(store.join_training_group(g, grace, 22).await.unwrap());
    assert!(!store.join_training_group(g, grace, 23).await.unwrap());
    assert_eq!(
        store.training_group_members(g).await.unwrap(),
        vec![(grace, 22)]
    );
    assert_eq!(store.training_groups_joined(grace).await.unwrap().len(), 1);
    assert_eq!(store.training_groups_taught(ada).await.unwrap().len(), 1);
}

async fn cdr_data_is_attached_once(store: Store) {
    let v = store
        .register_cdr_version("Registered Tier Dataset v7", "registered", true, None, 10)
        .await
        .unwrap();
    assert!(store.attach_cdr_data(v, "/data/demo").await.unwrap());
    assert!(!store.attach_cdr_data(v, "/data/other").await.unwrap());
    let got = store.cdr_version(v).await.unwrap().unwrap();
    assert_eq!(got.data_dir.as_deref(), Some("/data/demo"));
}

async fn cdr_versions_keep_one_default_per_tier(store: Store) {
    let v6 = store
        .register_cdr_version("Registered Tier Dataset v6", "registered", true, None, 10)
        .await
        .unwrap();
    let v7 = store
        .register_cdr_version(
            "Registered Tier Dataset v7",
            "registered",
            true,
            Some("/data/v7"),
            20,
        )
        .await
        .unwrap();
    store
        .register_cdr_version("Controlled Tier Dataset v7", "controlled", true, None, 20)
        .await
        .unwrap();
    let rt = store.cdr_versions("registered").await.unwrap();
    assert_eq!(rt.iter().map(|v| v.id).collect::<Vec<_>>(), vec![v7, v6]);
    assert!(rt[0].is_default && !rt[1].is_default);
    assert_eq!(
        store
            .cdr_version(v7)
            .await
            .unwrap()
            .unwrap()
            .data_dir
            .as_deref(),
        Some("/data/v7")
    );
    assert!(matches!(
        store
            .register_cdr_version("Registered Tier Dataset v7", "registered", false, None, 30)
            .await,
        Err(StoreError::Conflict("name"))
    ));
}

async fn workspaces_members_directory_and_soft_delete(store: Store) {
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let ada = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    let grace = create(&store, "grace", "grace@northfield.example")
        .await
        .unwrap();
    let cdr = store
        .register_cdr_version("Registered Tier Dataset v7", "registered", true, None, 10)
        .await
        .unwrap();
    let new =
        |ns: &'static str, name: &'static str, creator: i64, review: bool| wb_store::NewWorkspace {
            namespace: ns,
            name,
            creator_user_id: creator,
            tier: "registered",
            cdr_version_id: cdr,
            billing_account_id: None,
            research_purpose: "{}",
            review_requested: review,
            initial_credits_cents: None,
            now: 100,
        };
    let w = store
        .create_workspace(&new("wb-a-1", "Lindqvist_training", ada, true))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_workspace(&new("wb-a-2", "Lindqvist_training", ada, false))
            .await,
        Err(StoreError::Conflict("name"))
    ));
    // Another creator may use the same name.
    store
        .create_workspace(&new("wb-g-1", "Lindqvist_training", grace, false))
        .await
        .unwrap();
    assert_eq!(
        store.workspace_members(w).await.unwrap(),
        vec![(ada, "owner".to_string())]
    );
    store
        .set_workspace_role(w, grace, Some("reader"), 110)
        .await
        .unwrap();
    store
        .set_workspace_role(w, grace, Some("writer"), 111)
        .await
        .unwrap();
    assert_eq!(store.workspace_members(w).await.unwrap().len(), 2);
    assert_eq!(store.workspaces_of(grace).await.unwrap().len(), 2);
    assert_eq!(store.open_review_requests().await.unwrap().len(), 1);
    assert_eq!(store.directory().await.unwrap().len(), 2);
    assert_eq!(
        store.directory().await.unwrap()[1].institution_name,
        "Northfield University"
    );
    store.delete_workspace(w, 120).await.unwrap();
    assert!(
        store
            .workspace_by_namespace("wb-a-1")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.workspace(w).await.unwrap().unwrap().deleted_at,
        Some(120)
    );
    assert_eq!(store.directory().await.unwrap().len(), 1);
    // The name is free again once the workspace is deleted.
    store
        .create_workspace(&new("wb-a-3", "Lindqvist_training", ada, false))
        .await
        .unwrap();
    store.set_workspace_role(w, grace, None, 130).await.unwrap();
    assert_eq!(store.workspace_members(w).await.unwrap().len(), 1);
}

async fn credit_ledger_is_append_only_and_checked(store: Store) {
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let ada = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    assert!(store.ensure_initial_credits(ada, 30_000, 5).await.unwrap());
    assert!(!store.ensure_initial_credits(ada, 30_000, 6).await.unwrap());
    let entry = |kind: &'static str, cents: i64| wb_store::NewLedgerEntry {
        user_id: ada,
        kind,
        cents,
        at: 7,
        workspace_id: None,
        note: "test",
    };
    let balance = |rows: &[wb_store::LedgerRow]| -> i64 {
        rows.iter()
            .map(|r| {
                if r.kind == "charge" {
                    -r.cents
                } else {
                    r.cents
                }
            })
            .sum()
    };
    store
        .append_ledger(&entry("charge", 10_000), |_| Ok(()))
        .await
        .unwrap();
    let refused = store
        .append_ledger(&entry("charge", 25_000), |rows| {
            if balance(rows) < 25_000 {
                Err(format!("only {} left", balance(rows)))
            } else {
                Ok(())
            }
        })
        .await;
    assert!(matches!(refused, Err(StoreError::Refused(m)) if m == "only 20000 left"));
    let rows = store.ledger(ada).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(balance(&rows), 20_000);
}

async fn access_modules_complete_bypass_and_reset(store: Store) {
    use wb_domain::access::AccessModule;
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let id = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    store
        .complete_module(id, AccessModule::RtTraining, 100, None)
        .await
        .unwrap();
    store
        .complete_module(id, AccessModule::RtTraining, 200, None)
        .await
        .unwrap();
    store
        .set_module_bypass(
            id,
            AccessModule::Identity,
            Some("checked passport in person"),
            150,
        )
        .await
        .unwrap();
    let recs = store.module_records(id).await.unwrap();
    let rt = recs
        .iter()
        .find(|r| r.module == AccessModule::RtTraining)
        .unwrap();
    assert_eq!(
        rt.completed_at,
        Some(200),
        "a renewal replaces the completion"
    );
    let idv = recs
        .iter()
        .find(|r| r.module == AccessModule::Identity)
        .unwrap();
    assert_eq!((idv.bypassed_at, idv.completed_at), (Some(150), None));
    store
        .set_module_bypass(id, AccessModule::Identity, None, 160)
        .await
        .unwrap();
    store
        .reset_module(id, AccessModule::RtTraining, 170)
        .await
        .unwrap();
    let recs = store.module_records(id).await.unwrap();
    assert!(
        recs.iter()
            .all(|r| r.completed_at.is_none() && r.bypassed_at.is_none())
    );
    store.sign_code_of_conduct(id, 1, "AL", 180).await.unwrap();
    let c = store
        .module_records(id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.module == AccessModule::CodeOfConduct)
        .unwrap();
    assert_eq!((c.completed_at, c.version), (Some(180), Some(1)));
}

async fn totp_steps_and_recovery_codes_are_single_use(store: Store) {
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let id = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    assert!(
        !store.use_totp_step(id, 5).await.unwrap(),
        "no authenticator yet"
    );
    store
        .enable_totp(id, "sealed-1", 10, &["h1".into(), "h2".into()], 102)
        .await
        .unwrap();
    assert!(
        matches!(
            store.enable_totp(id, "sealed-2", 12, &[], 103).await,
            Err(StoreError::Refused(_))
        ),
        "a second confirmation (another tab) is refused and replaces nothing"
    );
    assert_eq!(
        store.totp(id).await.unwrap().unwrap().secret_sealed,
        "sealed-1"
    );
    assert_eq!(store.recovery_codes_left(id).await.unwrap(), 2);
    assert!(
        !store.use_totp_step(id, 10).await.unwrap(),
        "the enrolment step is used"
    );
    assert!(store.use_totp_step(id, 11).await.unwrap());
    assert!(!store.use_totp_step(id, 11).await.unwrap(), "replay");
    assert!(!store.use_totp_step(id, 9).await.unwrap(), "older step");
    assert!(store.use_recovery_code(id, "h1", 104).await.unwrap());
    assert!(!store.use_recovery_code(id, "h1", 105).await.unwrap());
    assert!(!store.use_recovery_code(id, "nope", 105).await.unwrap());
    assert_eq!(store.recovery_codes_left(id).await.unwrap(), 1);
    // New codes replace all the old ones; a new authenticator keeps the codes.
    store
        .replace_recovery_codes(id, &["h3".into(), "h4".into(), "h5".into()], 105)
        .await
        .unwrap();
    assert!(!store.use_recovery_code(id, "h2", 105).await.unwrap());
    assert_eq!(store.recovery_codes_left(id).await.unwrap(), 3);
    store.replace_totp(id, "sealed-new", 20, 105).await.unwrap();
    let t = store.totp(id).await.unwrap().unwrap();
    assert_eq!(
        (t.secret_sealed.as_str(), t.last_used_step),
        ("sealed-new", Some(20))
    );
    assert!(
        !store.use_totp_step(id, 20).await.unwrap(),
        "its first code is used"
    );
    assert_eq!(store.recovery_codes_left(id).await.unwrap(), 3);
    store.reset_totp(id, 106).await.unwrap();
    assert!(matches!(
        store.replace_totp(id, "x", 30, 107).await,
        Err(StoreError::Refused(_))
    ));
    assert!(store.totp(id).await.unwrap().is_none());
    assert_eq!(store.recovery_codes_left(id).await.unwrap(), 0);
}

async fn identities_bind_to_one_account(store: Store) {
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let a = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    let g = create(&store, "grace", "grace@northfield.example")
        .await
        .unwrap();
    store
        .link_identity("id-me", "sub-1", a, Some("ial2"), 100)
        .await
        .unwrap();
    store
        .link_identity("id-me", "sub-1", a, Some("ial2"), 101)
        .await
        .unwrap();
    assert!(matches!(
        store.link_identity("id-me", "sub-1", g, None, 102).await,
        Err(StoreError::Conflict("identity"))
    ));
    store
        .link_identity("login-gov", "sub-1", g, None, 103)
        .await
        .unwrap();
}

async fn reminders_and_tier_changes_are_recorded_once(store: Store) {
    use wb_domain::AccessTier;
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let id = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    assert!(
        store
            .record_reminder(id, AccessTier::Registered, 1000, 30, 5)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_reminder(id, AccessTier::Registered, 1000, 30, 6)
            .await
            .unwrap()
    );
    assert!(
        store
            .record_reminder(id, AccessTier::Registered, 1000, 15, 7)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .reminders_sent(id, AccessTier::Registered, 1000)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        store
            .reminders_sent(id, AccessTier::Registered, 2000)
            .await
            .unwrap()
            .is_empty()
    );
    let both = [AccessTier::Registered, AccessTier::Controlled];
    assert_eq!(
        store.set_user_tiers(id, &both, 1).await.unwrap(),
        (both.to_vec(), vec![])
    );
    assert_eq!(
        store.set_user_tiers(id, &both, 2).await.unwrap(),
        (vec![], vec![])
    );
    assert_eq!(
        store
            .set_user_tiers(id, &[AccessTier::Registered], 3)
            .await
            .unwrap(),
        (vec![], vec![AccessTier::Controlled])
    );
    assert_eq!(
        store.user_tiers(id).await.unwrap(),
        vec![AccessTier::Registered]
    );
}

async fn assessment_attempts_submit_once(store: Store) {
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let id = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    let other = create(&store, "grace", "grace@northfield.example")
        .await
        .unwrap();
    let started = store
        .begin_attempt(id, "rt", 100, |_| {
            Ok::<_, ()>(vec!["q1".to_string(), "q2".to_string()])
        })
        .await
        .unwrap()
        .unwrap();
    let wb_store::AttemptStart::Started(a) = started else {
        panic!("{started:?}")
    };
    // While it is open, starting again resumes it without asking `decide`.
    let again = store
        .begin_attempt(id, "rt", 100, |_| -> Result<Vec<String>, ()> {
            panic!("decide is not asked while an attempt is open")
        })
        .await
        .unwrap();
    assert_eq!(again, Ok(wb_store::AttemptStart::Resumed(a)));
    assert!(
        !store
            .submit_attempt(other, a, 2, 2, true, 101)
            .await
            .unwrap(),
        "not the other user's"
    );
    assert!(store.submit_attempt(id, a, 1, 2, false, 102).await.unwrap());
    assert!(
        !store.submit_attempt(id, a, 2, 2, true, 103).await.unwrap(),
        "submitted once"
    );
    let all = store.attempts(id, "rt").await.unwrap();
    assert_eq!(all[0].questions, vec!["q1".to_string(), "q2".to_string()]);
    assert_eq!(all[0].passed, Some(false));
    store
        .complete_course_module(id, "rt", "data", 104)
        .await
        .unwrap();
    store
        .complete_course_module(id, "rt", "data", 105)
        .await
        .unwrap();
    assert_eq!(
        store.course_progress(id, "rt").await.unwrap(),
        vec!["data".to_string()]
    );
}

/// Many requests start (and submit) attempts at once under a rule of at most 3 starts: each
/// `decide` sees the attempts before it, so never more than 3 are recorded.
async fn parallel_attempt_starts_keep_the_daily_limit(store: Store) {
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let id = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    let rule = |attempts: &[wb_store::Attempt]| {
        if attempts.len() >= 3 {
            Err(format!("{} attempts already", attempts.len()))
        } else {
            Ok(vec![format!("q{}", attempts.len())])
        }
    };
    // Each task starts attempts (submitting each one it starts, so the next can start) until
    // it is refused.
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut started = 0;
                loop {
                    match store.begin_attempt(id, "rt", 1000 + i, rule).await.unwrap() {
                        Ok(wb_store::AttemptStart::Started(a)) => {
                            started += 1;
                            assert!(
                                store
                                    .submit_attempt(id, a, 0, 1, false, 2000 + i)
                                    .await
                                    .unwrap()
                            );
                        }
                        Ok(wb_store::AttemptStart::Resumed(_)) => tokio::task::yield_now().await,
                        Err(e) => {
                            assert_eq!(e, "3 attempts already");
                            return started;
                        }
                    }
                }
            })
        })
        .collect();
    let mut started = 0;
    for t in tasks {
        started += t.await.unwrap();
    }
    assert_eq!(started, 3);
    let all = store.attempts(id, "rt").await.unwrap();
    assert_eq!(all.len(), 3);
    let questions: Vec<&str> = all.iter().map(|a| a.questions[0].as_str()).collect();
    assert_eq!(
        questions,
        ["q0", "q1", "q2"],
        "each decide saw the ones before it"
    );
}

fn northfield() -> Institution {
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
                MembershipRequirement::Addresses,
                Vec::<String>::new(),
                ["ada@northfield.example"],
            ),
        ],
        request_access_url: Some("https://northfield.example/research".into()),
    }
}

fn details(username: &str) -> ProfileDetails {
    validate_step2(
        &Step2Input {
            username: username.into(),
            given_name: "Ada".into(),
            family_name: "Lindqvist".into(),
            degrees: vec!["phd".into(), "mph".into()],
            street1: "1 College Way".into(),
            city: "Northfield".into(),
            state: "MN".into(),
            zip: "55057".into(),
            country: "United States".into(),
            research_background: "Kidney disease epidemiology.".into(),
            discovery: vec!["colleagues".into()],
            race: vec!["prefer_not".into()],
            year_of_birth: "1990".into(),
            ..Default::default()
        },
        2026,
    )
    .unwrap()
}

fn affiliation(email: &str) -> Affiliation {
    Affiliation {
        institution: "northfield".into(),
        contact_email: EmailAddress::parse(email).unwrap(),
        role: Role::GraduateTrainee,
        role_other: None,
    }
}

async fn create(store: &Store, username: &str, email: &str) -> Result<i64, StoreError> {
    let a = affiliation(email);
    let d = details(username);
    store
        .create_user(&wb_store::NewUser {
            affiliation: &a,
            details: &d,
            password_hash: "$argon2id$test",
            temporary_password_expires_at: 1_000 + 7 * 86_400,
            terms_version: 1,
            terms_accepted_at: 990,
            now: 1_000,
        })
        .await
}

async fn migrations_are_idempotent(store: Store) {
    let again = store.migrate(5).await.unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.current, wb_store::migrate::MIGRATIONS.len() as i64);
    assert!(store.pending_migrations().await.unwrap().is_empty());
}

async fn institutions_round_trip(store: Store) {
    let inst = northfield();
    store.upsert_institution(&inst, 10).await.unwrap();
    assert_eq!(
        store.institution("northfield").await.unwrap(),
        Some(inst.clone())
    );
    let mut changed = inst.clone();
    changed.display_name = "Northfield University (Main)".into();
    changed.tiers.truncate(1);
    store.upsert_institution(&changed, 11).await.unwrap();
    assert_eq!(store.institutions().await.unwrap(), vec![changed]);
    assert_eq!(store.institution("nowhere").await.unwrap(), None);
}

async fn institution_with_members_cannot_be_deleted(store: Store) {
    store.upsert_institution(&northfield(), 10).await.unwrap();
    create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    assert!(matches!(
        store.delete_institution("northfield").await,
        Err(StoreError::Refused(_))
    ));
    let mut other = northfield();
    other.short_name = "empty".into();
    store.upsert_institution(&other, 10).await.unwrap();
    store.delete_institution("empty").await.unwrap();
    assert!(matches!(
        store.delete_institution("empty").await,
        Err(StoreError::NotFound)
    ));
}

async fn users_are_unique_by_username_and_email(store: Store) {
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let id = create(&store, "ada", "Ada@northfield.example")
        .await
        .unwrap();
    let u = store.user_by_username("ada").await.unwrap().unwrap();
    assert_eq!(u.id, id);
    assert_eq!(u.contact_email, "Ada@northfield.example");
    assert!(u.password_is_temporary);
    assert_eq!(u.demographics.year_of_birth, Some(1990));
    assert_eq!(u.degrees.len(), 2);
    assert!(store.username_taken("ada").await.unwrap());
    assert!(
        store
            .contact_email_taken("ada@northfield.example")
            .await
            .unwrap()
    );
    assert!(matches!(
        create(&store, "ada", "other@northfield.example").await,
        Err(StoreError::Conflict("username"))
    ));
    assert!(matches!(
        create(&store, "ada2", "ADA@northfield.example").await,
        Err(StoreError::Conflict("contact_email"))
    ));
    assert_eq!(store.terms_acceptances(id).await.unwrap(), vec![(1, 990)]);
    let p = store.public_profile("ada").await.unwrap().unwrap();
    assert_eq!(p.institution_name, "Northfield University");
    assert_eq!(p.role, Role::GraduateTrainee);
    store.set_disabled(id, true).await.unwrap();
    assert!(store.public_profile("ada").await.unwrap().is_none());
}

async fn passwords_and_first_sign_in(store: Store) {
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let id = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    store.record_sign_in(id, 2_000).await.unwrap();
    store.record_sign_in(id, 3_000).await.unwrap();
    store
        .set_password(id, "$argon2id$new", None, 2_100)
        .await
        .unwrap();
    let u = store.user_by_id(id).await.unwrap().unwrap();
    assert_eq!(u.first_sign_in_at, Some(2_000));
    assert!(!u.password_is_temporary);
    assert_eq!(u.temporary_password_expires_at, None);
    assert_eq!(u.password_changed_at, Some(2_100));
    assert!(matches!(
        store.set_password(9_999, "x", None, 1).await,
        Err(StoreError::NotFound)
    ));
}

async fn reset_tokens_are_single_use_and_expire(store: Store) {
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let id = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    store
        .create_session(&NewSession {
            id_hash: "s1",
            user_id: id,
            stage: SessionStage::Active,
            now: 100,
            expires_at: 10_000,
            ip: None,
            user_agent: None,
        })
        .await
        .unwrap();
    store.create_reset_token(id, "t1", 100, 200).await.unwrap();
    assert_eq!(store.check_reset_token("t1", 150).await.unwrap(), Ok(id));
    assert_eq!(
        store.check_reset_token("t1", 200).await.unwrap(),
        Err(ResetTokenError::Expired)
    );
    assert_eq!(
        store.check_reset_token("nope", 150).await.unwrap(),
        Err(ResetTokenError::Unknown)
    );
    // A newer link replaces the older one.
    store.create_reset_token(id, "t2", 110, 300).await.unwrap();
    assert_eq!(
        store.check_reset_token("t1", 150).await.unwrap(),
        Err(ResetTokenError::Used)
    );
    assert_eq!(
        store
            .reset_password_with_token("t2", "$argon2id$reset", 150)
            .await
            .unwrap(),
        Ok(id)
    );
    assert_eq!(
        store
            .reset_password_with_token("t2", "$argon2id$again", 151)
            .await
            .unwrap(),
        Err(ResetTokenError::Used)
    );
    let u = store.user_by_id(id).await.unwrap().unwrap();
    assert_eq!(u.password_hash, "$argon2id$reset");
    assert_eq!(
        store.session_count(id).await.unwrap(),
        0,
        "a reset ends every session"
    );
}

async fn sessions_expire_and_idle_out(store: Store) {
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let id = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    store
        .create_session(&NewSession {
            id_hash: "a",
            user_id: id,
            stage: SessionStage::PasswordChange,
            now: 1_000,
            expires_at: 5_000,
            ip: Some("127.0.0.1"),
            user_agent: None,
        })
        .await
        .unwrap();
    let s = store
        .live_session("a", 1_500, 1_800)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.stage, SessionStage::PasswordChange);
    // Idle for more than the limit: gone, and gone for good.
    assert!(
        store
            .live_session("a", 1_500 + 1_801, 1_800)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .live_session("a", 1_600, 1_800)
            .await
            .unwrap()
            .is_none()
    );
    // Absolute expiry.
    store
        .create_session(&NewSession {
            id_hash: "b",
            user_id: id,
            stage: SessionStage::Active,
            now: 1_000,
            expires_at: 2_000,
            ip: None,
            user_agent: None,
        })
        .await
        .unwrap();
    assert!(
        store
            .live_session("b", 2_000, 10_000)
            .await
            .unwrap()
            .is_none()
    );
    // Ending other sessions keeps the current one.
    for h in ["c", "d", "e"] {
        store
            .create_session(&NewSession {
                id_hash: h,
                user_id: id,
                stage: SessionStage::Active,
                now: 1_000,
                expires_at: 9_000,
                ip: None,
                user_agent: None,
            })
            .await
            .unwrap();
    }
    assert_eq!(store.delete_user_sessions(id, Some("c")).await.unwrap(), 2);
    assert!(
        store
            .live_session("c", 1_100, 1_800)
            .await
            .unwrap()
            .is_some()
    );
    store.set_disabled(id, true).await.unwrap();
    assert!(
        store
            .live_session("c", 1_100, 1_800)
            .await
            .unwrap()
            .is_none()
    );
}

/// The store's atomic reservation follows the domain's definition, try by try.
async fn throttle_follows_the_domain_rule(store: Store) {
    use wb_domain::throttle::Rule;
    use wb_store::Try;
    for (key, rule) in [
        ("account:1", Rule::consecutive(3, 60, 8)),
        ("ip:192.0.2.1", Rule::per_window(4, 300)),
    ] {
        let mut model = None;
        // Tries at irregular times, some inside locks, some after them and after windows.
        let mut now = 1_000;
        for step in [
            0, 1, 1, 5, 30, 61, 1, 200, 400, 2, 3, 1_000, 1, 1, 1, 5_000, 1, 90_000,
        ] {
            now += step;
            let want = rule.reserve(model, now);
            let got = store.throttle_reserve(key, &rule, now).await.unwrap();
            match (want, got) {
                (Ok(w), Try::Allowed(g)) => {
                    assert_eq!(w, g, "{key} at {now}");
                    model = Some(w);
                }
                (Err(until), Try::Refused { until: g }) => assert_eq!(until, g, "{key} at {now}"),
                (w, g) => panic!("{key} at {now}: the rule says {w:?}, the store {g:?}"),
            }
            assert_eq!(store.throttle_state(key).await.unwrap(), model);
        }
    }
    // The hard cap: locked until a reset, which clears it.
    let rule = Rule::consecutive(2, 10, 3);
    for t in [0, 100, 200] {
        store.throttle_reserve("account:2", &rule, t).await.unwrap();
    }
    assert_eq!(
        store
            .throttle_reserve("account:2", &rule, 10_000_000)
            .await
            .unwrap(),
        Try::Refused {
            until: wb_domain::throttle::UNTIL_RESET
        }
    );
    store.throttle_clear("account:2").await.unwrap();
    assert!(matches!(
        store.throttle_reserve("account:2", &rule, 10_000_001).await.unwrap(),
        Try::Allowed(s) if s.tries == 1
    ));
    // Giving back a reservation takes back the lock it set.
    let rule = Rule::per_window(2, 3600);
    store.throttle_reserve("ip:x", &rule, 0).await.unwrap();
    let Try::Allowed(s) = store.throttle_reserve("ip:x", &rule, 1).await.unwrap() else {
        panic!("the second try is allowed");
    };
    assert_eq!(s.locked_until, Some(3601));
    store.throttle_release("ip:x", &rule).await.unwrap();
    let s = store.throttle_state("ip:x").await.unwrap().unwrap();
    assert_eq!((s.tries, s.locked_until), (1, None));
}

/// N parallel tries at one key: exactly `limit` get through, the rest are refused unchecked,
/// and the key ends locked (a lock is never overwritten by a later try).
async fn parallel_tries_never_pass_the_limit(store: Store) {
    use wb_domain::throttle::Rule;
    use wb_store::Try;
    let rule = Rule::consecutive(10, 900, 100);
    for round in 0..3 {
        let key = format!("account:parallel-{round}");
        let tasks: Vec<_> = (0..30)
            .map(|_| {
                let (store, key) = (store.clone(), key.clone());
                tokio::spawn(async move { store.throttle_reserve(&key, &rule, 5_000).await })
            })
            .collect();
        let mut allowed = 0;
        for t in tasks {
            if let Try::Allowed(_) = t.await.unwrap().unwrap() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 10, "round {round}");
        let s = store.throttle_state(&key).await.unwrap().unwrap();
        assert_eq!((s.tries, s.locked_until), (10, Some(5_900)));
    }
}

/// Only one holder has a job's lease at a time; an expired lease passes on.
async fn job_leases_have_one_holder(store: Store) {
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .take_lease("reminders", &format!("node-{i}"), 100, 60)
                    .await
            })
        })
        .collect();
    let mut holders = 0;
    for t in tasks {
        holders += i32::from(t.await.unwrap().unwrap());
    }
    assert_eq!(holders, 1);
    assert!(store.take_lease("job-b", "a", 100, 60).await.unwrap());
    assert!(!store.take_lease("job-b", "b", 159, 60).await.unwrap());
    assert!(
        store.take_lease("job-b", "a", 150, 60).await.unwrap(),
        "renewed"
    );
    assert!(!store.take_lease("job-b", "b", 209, 60).await.unwrap());
    assert!(
        store.take_lease("job-b", "b", 210, 60).await.unwrap(),
        "expired: taken over"
    );
    assert!(!store.take_lease("job-b", "a", 211, 60).await.unwrap());
}

/// Two owners demoting each other at the same moment never leave a workspace without an
/// owner, and N identical additions make one membership and one audit row.
async fn parallel_member_changes_keep_the_invariants(store: Store) {
    use wb_domain::workspace::{WorkspaceRole, plan_member_changes};
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let ada = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    let grace = create(&store, "grace", "grace@northfield.example")
        .await
        .unwrap();
    let lin = create(&store, "lin", "lin@northfield.example")
        .await
        .unwrap();
    let cdr = store
        .register_cdr_version("Registered Tier Dataset v7", "registered", true, None, 10)
        .await
        .unwrap();
    let change = |store: Store, w: i64, actor: i64, target: i64, role: Option<WorkspaceRole>| async move {
        let who = format!("user:{actor}");
        let audit = wb_store::AuditEvent {
            at: 200,
            actor_user_id: Some(actor),
            actor: &who,
            action: "workspace.role_changed",
            target_user_id: None,
            detail: "",
            ip: None,
        };
        store
            .change_members(w, 200, &audit, |inside| {
                let members: Vec<(i64, WorkspaceRole)> = inside
                    .iter()
                    .filter_map(|(u, r)| Some((*u, WorkspaceRole::from_code(r)?)))
                    .collect();
                plan_member_changes(&members, actor, &[(target, role)]).map(|plan| {
                    plan.into_iter()
                        .map(|c| wb_store::MemberWrite {
                            user_id: c.user_id,
                            before: c.before.map(|r| r.code().to_owned()),
                            role: c.after.map(|r| r.code().to_owned()),
                            audit_detail: format!("{target}"),
                        })
                        .collect()
                })
            })
            .await
            .unwrap()
    };
    for round in 0..5 {
        let w = store
            .create_workspace(&wb_store::NewWorkspace {
                namespace: &format!("wb-owners-{round}"),
                name: &format!("Owners {round}"),
                creator_user_id: ada,
                tier: "registered",
                cdr_version_id: cdr,
                billing_account_id: None,
                research_purpose: "{}",
                review_requested: false,
                initial_credits_cents: None,
                now: 100,
            })
            .await
            .unwrap();
        store
            .set_workspace_role(w, grace, Some("owner"), 101)
            .await
            .unwrap();
        let a = tokio::spawn(change(
            store.clone(),
            w,
            ada,
            grace,
            Some(WorkspaceRole::Reader),
        ));
        let b = tokio::spawn(change(
            store.clone(),
            w,
            grace,
            ada,
            Some(WorkspaceRole::Reader),
        ));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert!(
            a.is_ok() != b.is_ok(),
            "exactly one demotion wins (round {round})"
        );
        let owners = store
            .workspace_members(w)
            .await
            .unwrap()
            .into_iter()
            .filter(|(_, r)| r == "owner")
            .count();
        assert_eq!(owners, 1, "round {round}");
        // Twenty identical additions of the same person.
        let owner = if a.is_ok() { ada } else { grace };
        let adds: Vec<_> = (0..20)
            .map(|_| {
                tokio::spawn(change(
                    store.clone(),
                    w,
                    owner,
                    lin,
                    Some(WorkspaceRole::Reader),
                ))
            })
            .collect();
        let mut writes = 0;
        for t in adds {
            writes += t.await.unwrap().unwrap().len();
        }
        assert_eq!(
            writes, 1,
            "one Save made the change, the others had nothing to do"
        );
        assert_eq!(store.workspace_members(w).await.unwrap().len(), 3);
    }
    let audited = store
        .audit_for_user(lin)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "workspace.role_changed")
        .count();
    assert_eq!(
        audited, 5,
        "one audit row per workspace the person was added to"
    );
}

/// One initial grant and one record per tier change, however many requests race for them.
async fn parallel_grants_and_tier_records_happen_once(store: Store) {
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let ada = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    let grants: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.ensure_initial_credits(ada, 30_000, i).await })
        })
        .collect();
    let mut inserted = 0;
    for g in grants {
        inserted += i32::from(g.await.unwrap().unwrap());
    }
    assert_eq!(inserted, 1);
    assert_eq!(store.ledger(ada).await.unwrap().len(), 1);
    let tiers = [AccessTier::Registered, AccessTier::Controlled];
    let syncs: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.set_user_tiers(ada, &tiers, 50).await })
        })
        .collect();
    let mut granted = 0;
    for t in syncs {
        granted += t.await.unwrap().unwrap().0.len();
    }
    assert_eq!(granted, 2, "each tier granted once");
    let losses: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.set_user_tiers(ada, &[], 60).await })
        })
        .collect();
    let mut lost = 0;
    for t in losses {
        lost += t.await.unwrap().unwrap().1.len();
    }
    assert_eq!(lost, 2, "each tier lost once");
}

async fn institution_requests_and_audit(store: Store) {
    let id = store
        .create_institution_request(
            "Lakeview College",
            "Sam Ortiz",
            "sam@lakeview.example",
            None,
            "Our faculty want access.",
            50,
        )
        .await
        .unwrap();
    let all = store.institution_requests().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, id);
    assert_eq!(all[0].status, "open");
    store.upsert_institution(&northfield(), 10).await.unwrap();
    let uid = create(&store, "ada", "ada@northfield.example")
        .await
        .unwrap();
    store
        .audit(&wb_store::AuditEvent {
            at: 60,
            actor_user_id: Some(uid),
            actor: "user:ada",
            action: "password.changed",
            target_user_id: Some(uid),
            detail: "{}",
            ip: Some("127.0.0.1"),
        })
        .await
        .unwrap();
    let events = store.audit_for_user(uid).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "password.changed");
    store.set_meta("demo_loaded", "1").await.unwrap();
    store.set_meta("demo_loaded", "2").await.unwrap();
    assert_eq!(
        store.meta("demo_loaded").await.unwrap().as_deref(),
        Some("2")
    );
}
