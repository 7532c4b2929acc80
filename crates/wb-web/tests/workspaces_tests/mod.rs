//! Workspaces over HTTP: creating one with the Research Use Statement and its confirm step,
//! tiers, the workspace tabs, the public Research Hub, and who may open what.

use reqwest::StatusCode;

use crate::support::{TestApp, field, label_of, revealed_by, text_of};

crate::on_both_databases!(
    create_workspace_with_confirm_step_and_public_directory,
    incomplete_statement_keeps_everything_typed,
    dependent_answers_show_with_their_option_and_leftovers_are_ignored,
    only_held_tiers_and_matching_datasets_are_accepted,
    non_members_see_nothing_and_lost_tiers_lock_workspaces,
    sharing_enforces_roles_eligibility_and_the_last_owner,
    duplicate_edit_and_delete_follow_the_roles,
    billing_accounts_are_offered_to_members_only,
    training_groups_show_progress_to_their_instructor_only,
    role_action_matrix_is_enforced_on_the_server,
    dataset_list_follows_the_tier_and_its_default_is_accepted,
    create_button_state_agrees_with_the_server,
    home_lists_workspaces_and_notices_say_what_happened,
);

/// The `<option>`s of the `<select name=…>`: (value, label, selected).
fn options_of(html: &str, name: &str) -> Vec<(String, String, bool)> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("select[name=\"{name}\"] option")).unwrap();
    doc.select(&sel)
        .map(|o| {
            (
                o.value().attr("value").unwrap_or_default().to_owned(),
                o.text().collect::<String>().trim().to_owned(),
                o.value().attr("selected").is_some(),
            )
        })
        .collect()
}

/// Every role against every workspace action that has a route, as a collaborator who is not
/// the creator: what the role matrix allows answers 200 (or 303), the rest 403.
async fn role_action_matrix_is_enforced_on_the_server(app: TestApp) {
    use wb_domain::workspace::{WorkspaceAction, WorkspaceRole, allows};
    let grace = app
        .user_with_access("grace.h", "grace@northfield.example")
        .await;
    app.sign_out().await;
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Matrix", "registered").await;
    let share = format!("/workspaces/{ns}/share");
    app.sign_out().await;
    for role in WorkspaceRole::ALL {
        app.sign_in("ada.l", "violet harbor lantern 2931").await;
        let r = app
            .submit(&share, &share, &[(&format!("role_{grace}"), role.code())])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        app.sign_out().await;
        app.sign_in("grace.h", "violet harbor lantern 2931").await;
        let checks: Vec<(WorkspaceAction, StatusCode)> = vec![
            (
                WorkspaceAction::View,
                app.get(&format!("/workspaces/{ns}")).await.status,
            ),
            (
                WorkspaceAction::Duplicate,
                app.get(&format!("/workspaces/{ns}/duplicate")).await.status,
            ),
            (
                WorkspaceAction::EditPurpose,
                app.get(&format!("/workspaces/{ns}/edit")).await.status,
            ),
            (WorkspaceAction::Share, app.get(&share).await.status),
            (
                WorkspaceAction::Delete,
                app.get(&format!("/workspaces/{ns}/delete")).await.status,
            ),
            (
                WorkspaceAction::ChangeBilling,
                app.submit(
                    &format!("/workspaces/{ns}"),
                    &format!("/workspaces/{ns}/billing"),
                    &[("billing", "initial_credits")],
                )
                .await
                .status,
            ),
        ];
        for (action, status) in checks {
            let expected_ok = allows(*role, action);
            assert_eq!(
                status.is_success() || status.is_redirection(),
                expected_ok,
                "{role:?} {action:?} answered {status}"
            );
            if !expected_ok {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} {action:?}");
            }
        }
        app.sign_out().await;
    }
}

async fn billing_accounts_are_offered_to_members_only(app: TestApp) {
    let grace = app
        .user_with_access("grace.h", "grace@northfield.example")
        .await;
    app.sign_out().await;
    let ada = app
        .user_with_access("ada.l", "ada@northfield.example")
        .await;
    let lab = app
        .store
        .create_billing_account("Lindqvist lab grant", ada, Some(100_000), &[], 1)
        .await
        .unwrap();
    let other = app
        .store
        .create_billing_account("Someone else's grant", grace, None, &[], 1)
        .await
        .unwrap();
    let form = app.get("/workspaces/new").await;
    assert!(form.body.contains("Billing account: Lindqvist lab grant"));
    assert!(!form.body.contains("Someone else"));
    let rt = app.store.cdr_versions("registered").await.unwrap()[0].id;
    let mut fields = TestApp::workspace_fields("Grant study", "registered", rt);
    fields.retain(|(k, _)| k != "billing");
    fields.push(("billing".into(), format!("account:{other}")));
    let r = app
        .submit_owned("/workspaces/new", "/workspaces/new", &fields)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.body).contains("You are not a member of this billing account."));
    fields.retain(|(k, _)| k != "billing");
    fields.push(("billing".into(), format!("account:{lab}")));
    let r = app
        .submit_owned("/workspaces/new", "/workspaces/new", &fields)
        .await;
    let ns = app.confirm_workspace(&r.body).await;
    let about = app.get(&format!("/workspaces/{ns}/about")).await;
    assert!(text_of(&about.body).contains("Billing account Lindqvist lab grant"));
    // The owner switches back to initial credits.
    let r = app
        .submit(
            &format!("/workspaces/{ns}/about"),
            &format!("/workspaces/{ns}/billing"),
            &[("billing", "initial_credits")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let about = app.get(&format!("/workspaces/{ns}/about")).await;
    assert!(text_of(&about.body).contains("$300.00 left"));
}

async fn training_groups_show_progress_to_their_instructor_only(app: TestApp) {
    app.user_with_access("ina.s", "ina@northfield.example")
        .await;
    let r = app
        .submit(
            "/training-groups",
            "/training-groups",
            &[("name", "Methods 101")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let group_path = r.location.unwrap();
    let page = app.get(&group_path).await;
    let code = TestApp::by_id(&page.body, "join-code").unwrap();
    app.sign_out().await;
    app.signed_in_user("ted.t", "ted@northfield.example").await;
    let r = app
        .submit(
            "/training-groups",
            "/training-groups/join",
            &[("code", "NOPE-NOPE")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&r.body, "code"), Some("NOPE-NOPE".into()));
    let r = app
        .submit(
            "/training-groups",
            "/training-groups/join",
            &[("code", &code.to_lowercase())],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("You joined Methods 101"));
    // A trainee cannot open the instructor's page.
    assert_eq!(app.get(&group_path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("{group_path}/progress.csv")).await.status,
        StatusCode::NOT_FOUND
    );
    app.sign_out().await;
    app.sign_in("ina.s", "violet harbor lantern 2931").await;
    let page = app.get(&group_path).await;
    let text = text_of(&page.body);
    assert!(text.contains("ted.t@researchworkbench.example"), "{text}");
    let csv = app.get(&format!("{group_path}/progress.csv")).await;
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with(
        "\"Name\",\"Account\",\"Joined\",\"Account created\",\"Turn on 2-Step Verification\""
    ));
    assert!(lines[1].contains("ted.t@researchworkbench.example"));
}

async fn duplicate_edit_and_delete_follow_the_roles(app: TestApp) {
    app.user_with_access("grace.h", "grace@northfield.example")
        .await;
    app.sign_out().await;
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Original", "controlled").await;
    let grace = user_id(&app, "grace.h").await;
    let share = format!("/workspaces/{ns}/share");
    app.submit(&share, &share, &[(&format!("role_{grace}"), "writer")])
        .await;
    app.sign_out().await;
    app.sign_in("grace.h", "violet harbor lantern 2931").await;
    // A writer may duplicate (same tier only) but not edit the purpose or delete.
    let dup = app.get(&format!("/workspaces/{ns}/duplicate")).await;
    assert_eq!(dup.status, StatusCode::OK);
    assert_eq!(
        field(&dup.body, "name"),
        Some("Duplicate of Original".into())
    );
    assert_eq!(field(&dup.body, "duplicate_of"), Some(ns.clone()));
    assert_eq!(
        app.get(&format!("/workspaces/{ns}/edit")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&format!("/workspaces/{ns}/delete")).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .submit(
            &format!("/workspaces/{ns}"),
            &format!("/workspaces/{ns}/delete"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let rt = app.store.cdr_versions("registered").await.unwrap()[0].id;
    let mut fields = TestApp::workspace_fields("Copy in RT", "registered", rt);
    fields.push(("duplicate_of".into(), ns.clone()));
    let r = app
        .submit_owned("/workspaces/new", "/workspaces/new", &fields)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text_of(&r.body).contains("A duplicate keeps the tier of its source: Controlled Tier.")
    );
    app.sign_out().await;
    // The owner edits the purpose (asking for a review now) and deletes the workspace.
    app.sign_in("ada.l", "violet harbor lantern 2931").await;
    let edit = format!("/workspaces/{ns}/edit");
    let page = app.get(&edit).await;
    assert_eq!(page.status, StatusCode::OK);
    let cdr = app.store.cdr_versions("controlled").await.unwrap()[0].id;
    let mut fields: Vec<(String, String)> = TestApp::workspace_fields("x", "controlled", cdr)
        .into_iter()
        .filter(|(k, _)| k != "review_requested" && k != "intended_study")
        .collect();
    fields.push(("review_requested".into(), "yes".into()));
    fields.push(("intended_study".into(), String::new()));
    let r = app.submit_owned(&edit, &edit, &fields).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    fields.retain(|(k, _)| k != "intended_study");
    fields.push((
        "intended_study".into(),
        "How do students learn to use cohorts?".into(),
    ));
    let r = app.submit_owned(&edit, &edit, &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    assert_eq!(app.store.open_review_requests().await.unwrap().len(), 1);
    let about = app.get(&format!("/workspaces/{ns}/about")).await;
    assert!(text_of(&about.body).contains("How do students learn to use cohorts?"));
    let r = app
        .submit(
            &format!("/workspaces/{ns}/delete"),
            &format!("/workspaces/{ns}/delete"),
            &[],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/workspaces?deleted=1"));
    assert_eq!(
        app.get(&format!("/workspaces/{ns}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(app.store.directory().await.unwrap().is_empty());
}

async fn user_id(app: &TestApp, username: &str) -> i64 {
    app.store
        .user_by_username(username)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn sharing_enforces_roles_eligibility_and_the_last_owner(app: TestApp) {
    // Grace (full access) and Sam (no tier yet) exist; Ada owns a workspace.
    app.user_with_access("grace.h", "grace@northfield.example")
        .await;
    app.sign_out().await;
    app.signed_in_user("sam.o", "sam@northfield.example").await;
    app.sign_out().await;
    let ada = app
        .user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Shared study", "registered").await;
    let grace = user_id(&app, "grace.h").await;
    let sam = user_id(&app, "sam.o").await;
    let share = format!("/workspaces/{ns}/share");
    // Finding collaborators as you type: Grace has a "+", Sam is shown with the reason.
    let plus = |id: i64| format!("name=\"add\" value=\"{id}\"");
    let found = app.get(&format!("{share}/search?q=grace")).await;
    assert!(found.body.contains(&plus(grace)), "{}", found.body);
    let found = app.get(&format!("{share}/search?q=sam")).await;
    assert!(found.body.contains("does not hold Registered Tier access"));
    assert!(!found.body.contains(&plus(sam)));
    // "+" (in place) gives her row, as Reader, and saves nothing.
    let row = app.get(&format!("{share}/add?user={grace}")).await;
    assert!(row.body.contains(&format!("name=\"role_{grace}\"")));
    assert!(row.body.contains("<option value=\"reader\" selected>"));
    let row = app.get(&format!("{share}/add?user={sam}")).await;
    assert!(row.body.contains("does not hold Registered Tier access"));
    assert!(!row.body.contains(&format!("role_{sam}")));
    // "+" without script: the form comes back with the row added, everything else kept.
    let r = app
        .submit(
            &share,
            &share,
            &[("q", "grace"), ("add", &grace.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text_of(&r.body));
    assert!(r.body.contains(&format!("name=\"role_{grace}\"")));
    assert!(text_of(&r.body).contains("added to the list. Choose Save to share."));
    // Rows already in the dialog are not offered again.
    let found = app
        .get(&format!("{share}/search?q=grace&role_{grace}=reader"))
        .await;
    assert!(!found.body.contains(&plus(grace)));
    assert_eq!(
        app.store
            .workspace_members(
                app.store
                    .workspace_by_namespace(&ns)
                    .await
                    .unwrap()
                    .unwrap()
                    .id
            )
            .await
            .unwrap()
            .len(),
        1,
        "nothing is saved before Save"
    );
    // Adding Sam anyway is refused and changes nothing.
    let r = app
        .submit(
            &share,
            &share,
            &[
                (&format!("role_{sam}"), "reader"),
                (&format!("role_{grace}"), "reader"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.body).contains("does not hold Registered Tier access"));
    assert_eq!(
        app.store
            .workspace_members(
                app.store
                    .workspace_by_namespace(&ns)
                    .await
                    .unwrap()
                    .unwrap()
                    .id
            )
            .await
            .unwrap()
            .len(),
        1
    );
    // Save with Grace as Reader: the page says exactly that, and she gets one e-mail.
    let r = app
        .submit(
            &share,
            &share,
            &[(&format!("role_{grace}"), "reader"), ("save", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    let done = app.get(r.location.as_deref().unwrap()).await;
    assert!(
        text_of(&done.body).contains("Ada Lindqvist added as Reader"),
        "{}",
        text_of(&done.body)
    );
    let mail = app
        .mail_to("grace@northfield.example", "shared a workspace with you")
        .await;
    assert!(mail.text.contains("The Researcher Workbench team"));
    // Saving again changes nothing, says so, and sends nothing.
    let r = app
        .submit(&share, &share, &[(&format!("role_{grace}"), "reader")])
        .await;
    let done = app.get(r.location.as_deref().unwrap()).await;
    assert!(
        text_of(&done.body).contains("No changes."),
        "{}",
        text_of(&done.body)
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let sent = app
        .outbox
        .messages()
        .iter()
        .filter(|m| m.to.contains("grace@northfield.example") && m.subject.contains("shared"))
        .count();
    assert_eq!(sent, 1);
    // The only owner cannot demote herself.
    let r = app
        .submit(&share, &share, &[(&format!("role_{ada}"), "reader")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.body).contains("only owner"));
    app.sign_out().await;
    // Grace, a reader, sees the workspace but cannot share it.
    app.sign_in("grace.h", "violet harbor lantern 2931").await;
    assert_eq!(
        app.get(&format!("/workspaces/{ns}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/workspaces/{ns}/about")).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get(&share).await.status, StatusCode::FORBIDDEN);
    let r = app
        .submit(
            &format!("/workspaces/{ns}"),
            &share,
            &[(&format!("role_{grace}"), "owner")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(&format!("{share}/search?q=sam")).await.status,
        StatusCode::FORBIDDEN
    );
    app.sign_out().await;
    // Ada makes Grace an owner; then Ada may step down to writer.
    app.sign_in("ada.l", "violet harbor lantern 2931").await;
    let r = app
        .submit(&share, &share, &[(&format!("role_{grace}"), "owner")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = app
        .submit(&share, &share, &[(&format!("role_{ada}"), "writer")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    assert_eq!(
        app.get(&share).await.status,
        StatusCode::FORBIDDEN,
        "a writer cannot share"
    );
    app.sign_out().await;
    // Grace, now the only owner, removes Ada: Ada no longer sees the workspace.
    app.sign_in("grace.h", "violet harbor lantern 2931").await;
    let r = app
        .submit(&share, &share, &[(&format!("role_{ada}"), "remove")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    app.sign_out().await;
    app.sign_in("ada.l", "violet harbor lantern 2931").await;
    assert_eq!(
        app.get(&format!("/workspaces/{ns}")).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn create_workspace_with_confirm_step_and_public_directory(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let form = app.get("/workspaces/new").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("Use initial credits - $300.00 left"));
    assert!(
        form.body.contains("Controlled Tier Dataset v7")
            && form.body.contains("Registered Tier Dataset v7")
    );
    let cdr = app.store.cdr_versions("controlled").await.unwrap()[0].id;
    let fields = TestApp::workspace_fields("Lindqvist_CWML_training", "controlled", cdr);
    let r = app
        .submit_owned("/workspaces/new", "/workspaces/new", &fields)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let text = text_of(&r.body);
    assert!(
        text.contains("Primary purpose of your project (Question 1)")
            && text.contains("Educational Purpose")
    );
    assert!(text.contains("Population of interest (Question 5)"));
    assert!(
        !text.contains("Resource Access Board"),
        "question 6 is private"
    );
    // "Keep Editing" returns to the form with every answer kept.
    let state = field(&r.body, "state").unwrap();
    let back = app
        .submit_raw_form(
            "/workspaces/confirm",
            &r.body,
            &[("state", &state), ("decision", "edit")],
        )
        .await;
    assert_eq!(
        field(&back.body, "name"),
        Some("Lindqvist_CWML_training".into())
    );
    assert!(back.body.contains("value=\"educational\" checked"));
    let r = app
        .submit_raw_form(
            "/workspaces/confirm",
            &r.body,
            &[("state", &state), ("decision", "confirm")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let location = r.location.unwrap();
    let ns = location
        .trim_start_matches("/workspaces/")
        .trim_end_matches("?created=1")
        .to_owned();
    assert!(ns.starts_with("wb-lindqvist-cwml-training-"), "{ns}");
    let page = app.get(&location).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        text_of(&page.body).contains("Workspace created."),
        "the confirm step ends with a message"
    );
    let again = app.get(&format!("/workspaces/{ns}")).await;
    assert!(!text_of(&again.body).contains("Workspace created."));
    for t in [
        "DATA ANALYSIS",
        "ABOUT",
        "A cohort is a group of participants based on specific criteria.",
        "A dataset is a table containing data about a cohort that can be exported for analysis.",
    ] {
        assert!(page.body.contains(t), "{t}");
    }
    let about = app.get(&format!("/workspaces/{ns}/about")).await;
    let text = text_of(&about.body);
    assert!(
        text.contains("Controlled Tier Dataset v7")
            && text.contains("$300.00 left")
            && text.contains("SHARE")
    );
    // The same name again is refused, with the answers kept.
    let r = app
        .submit_owned("/workspaces/new", "/workspaces/new", &fields)
        .await;
    let state = field(&r.body, "state").unwrap();
    let r = app
        .submit_raw_form(
            "/workspaces/confirm",
            &r.body,
            &[("state", &state), ("decision", "confirm")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.body
            .contains("You already have a workspace with this name")
    );
    // The Research Hub is public: a browser without a session sees the public answers only.
    let anon = reqwest::get(format!("{}/research-hub?q=lindqvist", app.base))
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::OK);
    let body = anon.text().await.unwrap();
    let text = text_of(&body);
    assert!(
        text.contains("Lindqvist_CWML_training")
            && text.contains("Ada Lindqvist")
            && text.contains("Northfield University")
    );
    assert!(text.contains("Educational Purpose"));
    assert!(!text.contains("Resource Access Board") && !text.contains("stigmatization"));
    let none = reqwest::get(format!("{}/research-hub?q=zebrafish", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        TestApp::by_id(&none, "hub-count")
            .unwrap()
            .starts_with("0 of 1")
    );
}

async fn incomplete_statement_keeps_everything_typed(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let cdr = app.store.cdr_versions("registered").await.unwrap()[0].id;
    let mut fields = TestApp::workspace_fields("My study", "registered", cdr);
    fields.retain(|(k, _)| k != "intended_study" && k != "review_requested");
    fields.push(("outcomes".into(), "wellness".into()));
    let r = app
        .submit_owned("/workspaces/new", "/workspaces/new", &fields)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = TestApp::by_id(&r.body, "intended_study-error").unwrap_or_default();
    assert!(!errors.is_empty());
    assert!(TestApp::by_id(&r.body, "review_requested-error").is_some());
    assert!(
        TestApp::by_id(&r.body, "outcomes-error").is_some(),
        "'None of these' cannot be combined"
    );
    assert_eq!(field(&r.body, "name"), Some("My study".into()));
    assert!(field(&r.body, "scientific_approach").unwrap().len() > 10);
    assert!(app.store.directory().await.unwrap().is_empty());
}

/// The Research Use Statement shows sub-options and "Other" boxes only while their option is
/// chosen (`.reveal` / `.revealed` / `data-reveal`, see app.css), each box with a visible label;
/// what stays checked or typed in a hidden part is dropped, so no error names something hidden.
async fn dependent_answers_show_with_their_option_and_leftovers_are_ignored(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let form = app.get("/workspaces/new").await;
    let by = |option: &str, value: &str| Some((option.to_owned(), value.to_owned()));
    for (name, option) in [
        ("research_areas", by("purposes", "research")),
        ("disease_of_focus", by("research_areas", "disease_focused")),
        ("other_purpose_details", by("purposes", "other")),
        ("dissemination_other", by("dissemination", "other")),
        ("population_groups", by("population", "yes")),
        ("population_other", by("population_groups", "other")),
        ("intended_study", None),
        ("purposes", None),
    ] {
        assert_eq!(revealed_by(&form.body, name), option, "{name}");
    }
    for id in [
        "disease_of_focus",
        "other_purpose_details",
        "dissemination_other",
        "population_other",
    ] {
        let label = label_of(&form.body, id).unwrap_or_default();
        assert!(!label.is_empty(), "{id} has no visible label");
    }

    // Research purpose and "Yes" taken back: the kinds of research, the disease, the groups and
    // the other population are still sent from the hidden parts, and are ignored.
    let cdr = app.store.cdr_versions("registered").await.unwrap()[0].id;
    let mut fields = TestApp::workspace_fields("Leftovers", "registered", cdr);
    fields.retain(|(k, _)| k != "disease_of_focus" && k != "population_other");
    for (k, v) in [
        ("research_areas", "genetic"),
        ("research_areas", "disease_focused"),
        ("disease_of_focus", "Asthma"),
        ("population_groups", "sex"),
        ("population_groups", "other"),
        ("population_other", "Farmers"),
    ] {
        fields.push((k.into(), v.into()));
    }
    let r = app
        .submit_owned("/workspaces/new", "/workspaces/new", &fields)
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        crate::support::error_text(&r.body)
    );
    let text = text_of(&r.body);
    assert!(text.contains("Educational Purpose"), "{text}");
    assert!(
        !text.contains("Genetic Research") && !text.contains("Asthma"),
        "{text}"
    );
    assert!(!text.contains("Farmers") && !text.contains("Sex"), "{text}");
}

async fn only_held_tiers_and_matching_datasets_are_accepted(app: TestApp) {
    // A Cedar Valley user can hold only the Registered Tier.
    app.user_with_access("cam.r", "cam@cedarvalley.example")
        .await;
    let ct = app.store.cdr_versions("controlled").await.unwrap()[0].id;
    let rt = app.store.cdr_versions("registered").await.unwrap()[0].id;
    let form = app.get("/workspaces/new").await;
    assert!(form.body.contains("does not cover the Controlled Tier"));
    let r = app
        .submit_owned(
            "/workspaces/new",
            "/workspaces/new",
            &TestApp::workspace_fields("CT try", "controlled", ct),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.body).contains("You do not hold Controlled Tier access"));
    let r = app
        .submit_owned(
            "/workspaces/new",
            "/workspaces/new",
            &TestApp::workspace_fields("Mismatch", "registered", ct),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.body).contains("belongs to another tier"));
    let r = app
        .submit_owned(
            "/workspaces/new",
            "/workspaces/new",
            &TestApp::workspace_fields("Fine", "registered", rt),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Without Registered Tier access there is no workspace form at all.
    app.sign_out().await;
    app.signed_in_user("new.one", "new@northfield.example")
        .await;
    assert_eq!(
        app.get("/workspaces/new").await.status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .submit_owned(
            "/workspaces",
            "/workspaces/new",
            &TestApp::workspace_fields("Sneaky", "registered", rt),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.store.directory().await.unwrap().is_empty());
}

async fn non_members_see_nothing_and_lost_tiers_lock_workspaces(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Kidney study", "registered").await;
    app.sign_out().await;
    app.user_with_access("grace.h", "grace@northfield.example")
        .await;
    assert_eq!(
        app.get(&format!("/workspaces/{ns}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/workspaces/{ns}/about")).await.status,
        StatusCode::NOT_FOUND
    );
    app.sign_out().await;
    // A year on, Ada's training has expired: the workspace stays but will not open.
    app.clock.advance(366 * 86_400);
    app.sign_in("ada.l", "violet harbor lantern 2931").await;
    let r = app.get(&format!("/workspaces/{ns}")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("Your workspace is kept"));
    let list = app.get("/workspaces").await;
    assert!(
        list.body.contains("Kidney study")
            && list.body.contains("renew on Data Access Requirements")
    );
    assert_eq!(app.store.directory().await.unwrap().len(), 1);
}

/// One dataset list per tier, each holding only that tier's versions with its newest chosen; a
/// browser without script sends both lists, and the one of the chosen tier counts, so keeping
/// the default after choosing "Controlled Tier" is accepted (the guide keeps it).
async fn dataset_list_follows_the_tier_and_its_default_is_accepted(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let form = app.get("/workspaces/new").await;
    let rt = options_of(&form.body, "cdr_version_registered");
    let ct = options_of(&form.body, "cdr_version_controlled");
    assert!(!rt.is_empty() && !ct.is_empty());
    assert!(
        rt.iter().all(|(_, l, _)| l.starts_with("Registered Tier")),
        "{rt:?}"
    );
    assert!(
        ct.iter().all(|(_, l, _)| l.starts_with("Controlled Tier")),
        "{ct:?}"
    );
    let newest_ct = app.store.cdr_versions("controlled").await.unwrap()[0].clone();
    let chosen: Vec<_> = ct.iter().filter(|(_, _, s)| *s).collect();
    assert_eq!(chosen.len(), 1, "{ct:?}");
    assert_eq!(chosen[0].0, newest_ct.id.to_string());
    assert_eq!(chosen[0].1, newest_ct.name);
    // Both lists' defaults sent, tier Controlled: accepted with the Controlled Tier version.
    let newest_rt = app.store.cdr_versions("registered").await.unwrap()[0].id;
    let mut fields = TestApp::workspace_fields("Kept default", "controlled", newest_ct.id);
    fields.push(("cdr_version_registered".into(), newest_rt.to_string()));
    let r = app
        .submit_owned("/workspaces/new", "/workspaces/new", &fields)
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        crate::support::error_text(&r.body)
    );
    let ns = app.confirm_workspace(&r.body).await;
    let about = text_of(&app.get(&format!("/workspaces/{ns}/about")).await.body);
    assert!(about.contains(&newest_ct.name), "{about}");
    // The other tier's version in the chosen tier's list is still refused.
    let fields = TestApp::workspace_fields("Crossed", "controlled", newest_rt);
    let r = app
        .submit_owned("/workspaces/new", "/workspaces/new", &fields)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.body).contains("belongs to another tier"));
}

/// The live check behind "Create Workspace" uses the server's own rules: with question 3
/// unanswered the button is disabled and the page names "Question 3"; once complete it is
/// enabled and the same answers are accepted. The check writes nothing.
async fn create_button_state_agrees_with_the_server(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let cdr = app.store.cdr_versions("registered").await.unwrap()[0].id;
    let mut fields = TestApp::workspace_fields("Checked study", "registered", cdr);
    fields.retain(|(k, _)| k != "dissemination" && k != "dissemination_other");
    let r = app
        .submit_owned("/workspaces/new", "/workspaces/new/check", &fields)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let missing = TestApp::by_id(&r.body, "create-missing").expect("what is left is named");
    assert!(text_of(&missing).contains("Question 3"), "{missing}");
    assert!(!text_of(&missing).contains("Question 1"), "{missing}");
    assert!(r.body.contains("disabled"), "{}", r.body);
    // The server refuses the same answers, at question 3.
    let refused = app
        .submit_owned("/workspaces/new", "/workspaces/new", &fields)
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(TestApp::by_id(&refused.body, "dissemination-error").is_some());
    // Question 3 answered: enabled, and the server accepts.
    let fields = TestApp::workspace_fields("Checked study", "registered", cdr);
    let r = app
        .submit_owned("/workspaces/new", "/workspaces/new/check", &fields)
        .await;
    assert!(
        TestApp::by_id(&r.body, "create-ready").is_some(),
        "{}",
        r.body
    );
    assert!(!r.body.contains("disabled"), "{}", r.body);
    let accepted = app
        .submit_owned("/workspaces/new", "/workspaces/new", &fields)
        .await;
    assert_eq!(accepted.status, StatusCode::OK);
    // An empty form names the workspace name first; nothing was written by any check.
    let r = app
        .submit_owned("/workspaces/new", "/workspaces/new/check", &[])
        .await;
    let missing = text_of(&TestApp::by_id(&r.body, "create-missing").unwrap());
    assert!(
        missing.starts_with("To create the workspace, answer: Workspace name"),
        "{missing}"
    );
    assert!(app.store.directory().await.unwrap().is_empty());
    // Signed out, the check is refused like the form.
    app.sign_out().await;
    let r = app.post_raw("/workspaces/new/check", &[], &[]).await;
    assert_ne!(r.status, StatusCode::OK);
}

/// After "Get Started" the home page has "Workspaces +" and the user's workspaces; deleting
/// one says so on the list.
async fn home_lists_workspaces_and_notices_say_what_happened(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let home = app.get("/home").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.body.contains("href=\"/workspaces/new\""),
        "{}",
        home.body
    );
    let ns = app.create_workspace("Sleep and mood", "registered").await;
    let home = app.get("/home").await;
    assert!(text_of(&home.body).contains("Sleep and mood"));
    assert!(home.body.contains(&format!("/workspaces/{ns}")));
    let del = format!("/workspaces/{ns}/delete");
    let r = app.submit(&del, &del, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    let list = app.get(r.location.as_deref().unwrap()).await;
    assert!(
        text_of(&list.body).contains("Workspace deleted."),
        "{}",
        text_of(&list.body)
    );
    assert!(!text_of(&app.get("/home").await.body).contains("Sleep and mood"));
}
