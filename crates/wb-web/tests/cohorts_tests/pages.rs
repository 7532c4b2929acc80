//! The cohort builder's pages over HTTP: "Cohorts +", "Add Criteria" with search and browsing,
//! edits kept as the caller's draft with the counts answered each time, saving, renaming,
//! "Save Cohort as", duplicating and deleting, readers, bad input kept as typed, and no count
//! from 1 to 20 on any page.

use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::{Value, json};

use super::PASSWORD;
use crate::support::{TestApp, field, text_of};

crate::on_both_databases!(
    the_trainee_cohort_is_built_counted_and_saved_through_the_pages,
    bad_builder_input_is_named_where_it_was_typed_and_kept,
    readers_view_cohorts_and_strangers_get_404,
    no_page_shows_a_count_from_1_to_20,
    parallel_edits_of_one_draft_all_apply,
);

async fn parallel_edits_of_one_draft_all_apply(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Two tabs", "registered").await;
    let page = app.get(&format!("/workspaces/{ns}/cohorts/new")).await.body;
    let token = field(&page, "csrf_token").unwrap();
    let action = format!("/workspaces/{ns}/cohorts/new/edit");
    let fields = [
        ("csrf_token", token.as_str()),
        ("op", "add"),
        ("section", "include"),
        ("group", ""),
        ("type", "ehr"),
    ];
    let answers = super::futures_join(
        (0..8)
            .map(|_| app.post_raw(&action, &fields, &[("hx-request", "true")]))
            .collect(),
    )
    .await;
    for r in &answers {
        assert_eq!(r.status, StatusCode::OK, "{}", text_of(&r.body));
    }
    let d = draft(&app, &ns, "new").await.unwrap();
    let groups = d["include"].as_array().unwrap();
    assert_eq!(groups.len(), 8, "every edit applied: {d}");
    let mut ids: Vec<&str> = groups.iter().map(|g| g["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 8, "each group its own id: {d}");
}

/// Posts one builder edit (as a form, without htmx): the answer redirects back to the builder.
async fn edit(app: &TestApp, ns: &str, key: &str, fields: &[(&str, &str)]) -> crate::support::Resp {
    let page = format!("/workspaces/{ns}/cohorts/{key}");
    app.submit(
        &page,
        &format!("/workspaces/{ns}/cohorts/{key}/edit"),
        fields,
    )
    .await
}

async fn edit_ok(app: &TestApp, ns: &str, key: &str, fields: &[(&str, &str)]) {
    let r = edit(app, ns, key, fields).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "{fields:?}: {}",
        text_of(&r.body)
    );
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/workspaces/{ns}/cohorts/{key}").as_str())
    );
}

fn texts(html: &str, selector: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(selector).unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

fn one(html: &str, selector: &str) -> String {
    let all = texts(html, selector);
    assert_eq!(all.len(), 1, "{selector}: {all:?}");
    all[0].clone()
}

/// The caller's draft, through the API.
async fn draft(app: &TestApp, ns: &str, key: &str) -> Option<Value> {
    let r = app
        .get(&format!("/api/v1/workspaces/{ns}/cohort-drafts/{key}"))
        .await;
    (r.status == StatusCode::OK)
        .then(|| serde_json::from_str::<Value>(&r.body).unwrap()["definition"].clone())
}

/// What the count API says of a definition: the total as displayed.
async fn api_total(app: &TestApp, ns: &str, definition: &Value) -> String {
    let r = app
        .post_json(
            &format!("/api/v1/workspaces/{ns}/cohorts/count"),
            &json!({ "definition": definition }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    serde_json::from_str::<Value>(&r.body).unwrap()["total"]["display"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn the_trainee_cohort_is_built_counted_and_saved_through_the_pages(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Diabetes study", "registered").await;
    let data = app.get(&format!("/workspaces/{ns}")).await.body;
    assert!(data.contains(&format!("href=\"/workspaces/{ns}/cohorts/new\"")));
    assert!(text_of(&data).contains("Cohorts +"));

    let b = app.get(&format!("/workspaces/{ns}/cohorts/new")).await;
    assert_eq!(b.status, StatusCode::OK);
    let t = text_of(&b.body);
    for words in [
        "Include Participants",
        "Exclude Participants",
        "Add Criteria",
        "Total Count:",
        "Program Data",
        "Demographics",
        "Labs and Measurements",
        "Has EHR data",
    ] {
        assert!(t.contains(words), "{words}: {t}");
    }
    assert!(
        !t.contains("Calculate"),
        "counts are live: no Calculate button"
    );

    // "Add Criteria" → Conditions: search finds type 2 diabetes, ranked, with a count.
    let crit = |kind: &str, extra: &str| {
        format!(
            "/workspaces/{ns}/cohorts/new/criteria?type={kind}&section=include&group=&list=criteria{extra}"
        )
    };
    let found = app.get(&crit("condition", "&q=type+2+diabetes")).await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(text_of(&found.body).contains("Type 2 diabetes mellitus"));
    assert!(found.body.contains("name=\"concept_id\" value=\"201826\""));
    // Browsing: the roots, then the children of one, each with a count.
    let roots = app.get(&crit("condition", "")).await.body;
    assert!(text_of(&roots).contains("Browse the hierarchy"));
    assert!(roots.contains("parent="), "roots can be browsed");

    edit_ok(
        &app,
        &ns,
        "new",
        &[
            ("op", "add"),
            ("section", "include"),
            ("group", ""),
            ("type", "condition"),
            ("concept_id", "201826"),
        ],
    )
    .await;
    let b = app.get(&format!("/workspaces/{ns}/cohorts/new")).await.body;
    assert!(text_of(&b).contains("Type 2 diabetes mellitus"));
    assert!(text_of(&b).contains("with descendants"));
    let t2d_only = one(&b, "#total-count");
    let d = draft(&app, &ns, "new").await.expect("kept as a draft");
    assert_eq!(api_total(&app, &ns, &d).await, t2d_only);
    assert_eq!(
        d["include"][0]["criteria"][0]["kind"]["concept_id"], 201826,
        "{d}"
    );

    // Age 18–65 in a second include group (htmx: the answer is the builder itself).
    let page = app.get(&format!("/workspaces/{ns}/cohorts/new")).await.body;
    let token = field(&page, "csrf_token").unwrap();
    let r = app
        .post_raw(
            &format!("/workspaces/{ns}/cohorts/new/edit"),
            &[
                ("csrf_token", token.as_str()),
                ("op", "add"),
                ("section", "include"),
                ("group", ""),
                ("type", "age"),
                ("basis", "AGE"),
                ("min", "18"),
                ("max", "65"),
            ],
            &[("hx-request", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("id=\"builder\""));
    assert!(text_of(&r.body).contains("Current Age 18–65"));
    let with_age = one(&r.body, "#total-count");
    // Excluding insulin (a new exclude group).
    edit_ok(
        &app,
        &ns,
        "new",
        &[
            ("op", "add"),
            ("section", "exclude"),
            ("group", ""),
            ("type", "drug"),
            ("concept_id", "1596977"),
        ],
    )
    .await;
    // HbA1c ≥ 6.5 on or within 90 days of the diagnosis: a temporal group.
    edit_ok(
        &app,
        &ns,
        "new",
        &[
            ("op", "add"),
            ("section", "include"),
            ("group", ""),
            ("type", "measurement"),
            ("concept_id", "3004410"),
        ],
    )
    .await;
    let d = draft(&app, &ns, "new").await.unwrap();
    let hba1c_group = d["include"][2]["id"].as_str().unwrap().to_owned();
    let hba1c = d["include"][2]["criteria"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    edit_ok(
        &app,
        &ns,
        "new",
        &[
            ("op", "value"),
            ("criterion", &hba1c),
            ("value_op", "GREATER_THAN_OR_EQUAL_TO"),
            ("value", "6.5"),
        ],
    )
    .await;
    edit_ok(
        &app,
        &ns,
        "new",
        &[
            ("op", "group"),
            ("group", &hba1c_group),
            ("mention", "ANY_MENTION"),
            ("temporal", "WITHIN_X_DAYS_OF"),
            ("days", "90"),
        ],
    )
    .await;
    let b = app.get(&format!("/workspaces/{ns}/cohorts/new")).await.body;
    let empty_second = texts(&b, &format!("#group-{hba1c_group} .field-error"));
    assert!(
        empty_second
            .iter()
            .any(|e| e.contains("needs at least one criterion")),
        "an empty second list is named at its group: {empty_second:?}"
    );
    edit_ok(
        &app,
        &ns,
        "new",
        &[
            ("op", "add"),
            ("section", "include"),
            ("group", &hba1c_group),
            ("list", "second"),
            ("type", "condition"),
            ("concept_id", "201826"),
        ],
    )
    .await;
    // A refresh restores everything; the counts agree with the count API.
    let b = app.get(&format!("/workspaces/{ns}/cohorts/new")).await.body;
    let t = text_of(&b);
    assert!(t.contains("Your unsaved changes are restored"), "{t}");
    for words in [
        "Type 2 diabetes mellitus",
        "Current Age 18–65",
        "insulin, regular, human",
        "Hemoglobin A1c/Hemoglobin.total in Blood",
        "value ≥ 6.5",
        "On or within X days of",
        "(X = 90)",
        "Group by group",
        "Demographics of the cohort",
    ] {
        assert!(t.contains(words), "{words}: {t}");
    }
    assert!(
        texts(&b, ".field-error").is_empty(),
        "{:?}",
        texts(&b, ".field-error")
    );
    let d = draft(&app, &ns, "new").await.unwrap();
    let total = one(&b, "#total-count");
    assert_eq!(api_total(&app, &ns, &d).await, total);
    assert_ne!(total, with_age, "the temporal group narrows the cohort");
    assert_eq!(
        texts(&b, "table.attrition tbody tr").len(),
        4,
        "3 includes, 1 exclude"
    );
    assert_eq!(texts(&b, "figure.chart svg").len(), 4);
    let sql = app.get(&format!("/workspaces/{ns}/cohorts/new/sql")).await;
    assert_eq!(sql.status, StatusCode::OK);
    assert!(one(&sql.body, "#cohort-sql").contains("SELECT"));

    // Save Cohort: listed under Cohorts with its count; the draft is gone.
    let r = app
        .submit(
            &format!("/workspaces/{ns}/cohorts/new"),
            &format!("/workspaces/{ns}/cohorts/new/save"),
            &[
                ("name", "T2D adults with HbA1c"),
                ("description", "Trainee cohort"),
                ("mode", "save"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    let to = r.location.unwrap();
    let id: i64 = to
        .trim_start_matches(&format!("/workspaces/{ns}/cohorts/"))
        .trim_end_matches("?saved=1")
        .parse()
        .unwrap();
    assert!(draft(&app, &ns, "new").await.is_none());
    let saved = app.get(&to).await.body;
    assert!(text_of(&saved).contains("Cohort saved."));
    assert!(text_of(&saved).contains("No unsaved changes."));
    assert_eq!(one(&saved, "#total-count"), total);
    let list = app
        .get(&format!("/workspaces/{ns}?show=cohorts"))
        .await
        .body;
    let rows = texts(&list, "table.cohort-list tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("T2D adults with HbA1c") && rows[0].contains(&total),
        "{rows:?}"
    );

    // Editing the saved cohort keeps a draft of it until "Save Cohort" (a rename too).
    let key = id.to_string();
    edit_ok(
        &app,
        &ns,
        &key,
        &[
            ("op", "descendants"),
            ("criterion", "c1"),
            ("descendants", ""),
        ],
    )
    .await;
    assert!(draft(&app, &ns, &key).await.is_some());
    let b = app
        .get(&format!("/workspaces/{ns}/cohorts/{key}"))
        .await
        .body;
    assert!(texts(&b, "#builder-status")[0].contains("Unsaved changes"));
    let revision = field(&b, "revision").unwrap();
    let r = app
        .submit(
            &format!("/workspaces/{ns}/cohorts/{key}"),
            &format!("/workspaces/{ns}/cohorts/{key}/save"),
            &[
                ("name", "T2D adults"),
                ("description", "Renamed"),
                ("mode", "save"),
                ("revision", &revision),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    assert!(draft(&app, &ns, &key).await.is_none());
    let got: Value = serde_json::from_str(
        &app.get(&format!("/api/v1/workspaces/{ns}/cohorts/{id}"))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(got["name"], "T2D adults");
    assert_eq!(
        got["definition"]["include"][0]["criteria"][0]["kind"]["include_descendants"],
        false
    );
    // The old revision is refused, and nothing typed is lost.
    let r = app
        .submit(
            &format!("/workspaces/{ns}/cohorts/{key}"),
            &format!("/workspaces/{ns}/cohorts/{key}/save"),
            &[
                ("name", "Stale edit"),
                ("mode", "save"),
                ("revision", &revision),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(text_of(&r.body).contains("was saved since you opened it"));
    assert_eq!(field(&r.body, "name").as_deref(), Some("Stale edit"));

    // Save Cohort as, Duplicate, Delete.
    let r = app
        .submit(
            &format!("/workspaces/{ns}/cohorts/{key}"),
            &format!("/workspaces/{ns}/cohorts/{key}/save"),
            &[("name", "T2D adults"), ("mode", "save_as")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "the name is taken");
    assert!(text_of(&r.body).contains("has a cohort named \"T2D adults\" already"));
    let r = app
        .submit(
            &format!("/workspaces/{ns}/cohorts/{key}"),
            &format!("/workspaces/{ns}/cohorts/{key}/save"),
            &[("name", "T2D adults, variant"), ("mode", "save_as")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = app
        .submit(
            &format!("/workspaces/{ns}/cohorts/{key}"),
            &format!("/workspaces/{ns}/cohorts/{key}/duplicate"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let copy = app.get(&r.location.unwrap()).await.body;
    assert!(text_of(&copy).contains("Copy of T2D adults"));
    let list = app
        .get(&format!("/workspaces/{ns}?show=cohorts"))
        .await
        .body;
    assert_eq!(texts(&list, "table.cohort-list tbody tr").len(), 3);
    let ask = app
        .get(&format!("/workspaces/{ns}/cohorts/{key}/delete"))
        .await;
    assert!(text_of(&ask.body).contains("Delete T2D adults?"));
    let r = app
        .submit(
            &format!("/workspaces/{ns}/cohorts/{key}/delete"),
            &format!("/workspaces/{ns}/cohorts/{key}/delete"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&format!("/workspaces/{ns}/cohorts/{key}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let list = app.get(&r.location.unwrap()).await.body;
    assert!(text_of(&list).contains("Cohort deleted."));
    assert_eq!(texts(&list, "table.cohort-list tbody tr").len(), 2);
}

async fn bad_builder_input_is_named_where_it_was_typed_and_kept(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Bad input", "registered").await;
    let other = app.create_workspace("Other", "registered").await;
    let add = |kind: &'static str, concept: &'static str| {
        vec![
            ("op", "add"),
            ("section", "include"),
            ("group", ""),
            ("type", kind),
            ("concept_id", concept),
        ]
    };
    // An age range 60 to 20 is kept as typed and named at its criterion.
    edit_ok(
        &app,
        &ns,
        "new",
        &[
            ("op", "add"),
            ("section", "include"),
            ("group", ""),
            ("type", "age"),
            ("basis", "AGE_AT_CDR"),
            ("min", "60"),
            ("max", "20"),
        ],
    )
    .await;
    let b = app.get(&format!("/workspaces/{ns}/cohorts/new")).await.body;
    let errors = texts(&b, "#criterion-c1 .field-error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("60") && errors[0].contains("20"),
        "{errors:?}"
    );
    assert_eq!(one(&b, "#total-count"), "—");
    let d = draft(&app, &ns, "new").await.unwrap();
    assert_eq!(d["include"][0]["criteria"][0]["kind"]["min"], 60);
    // An unknown concept and a concept of another domain, each at its criterion.
    edit_ok(&app, &ns, "new", &add("condition", "987654321")).await;
    edit_ok(&app, &ns, "new", &add("drug", "201826")).await;
    let b = app.get(&format!("/workspaces/{ns}/cohorts/new")).await.body;
    assert!(
        texts(&b, "#criterion-c2 .field-error")[0].contains("not in this dataset"),
        "{:?}",
        texts(&b, "#criterion-c2 .field-error")
    );
    assert!(texts(&b, "#criterion-c3 .field-error")[0].contains("Condition"));
    // Days that are not a number: refused at the group, what was typed shown again, nothing
    // changed.
    let before = draft(&app, &ns, "new").await.unwrap();
    let r = edit(
        &app,
        &ns,
        "new",
        &[
            ("op", "group"),
            ("group", "g2"),
            ("temporal", "X_DAYS_AFTER"),
            ("days", "ninety"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        texts(&r.body, "#group-g2 .field-error")[0].contains("\"ninety\" is not a whole number")
    );
    assert_eq!(
        texts(&r.body, "#temporal-g2 option[selected]"),
        ["X or more days after"],
        "the relation chosen stays chosen"
    );
    assert_eq!(field(&r.body, "days").as_deref(), Some("ninety"));
    assert_eq!(draft(&app, &ns, "new").await.unwrap(), before);
    // A value that is not a number, and an event date range that ends before it starts.
    let r = edit(
        &app,
        &ns,
        "new",
        &[
            ("op", "value"),
            ("criterion", "c1"),
            ("value_op", "EQUAL"),
            ("value", "six"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = edit(
        &app,
        &ns,
        "new",
        &[
            ("op", "modifiers"),
            ("criterion", "c2"),
            ("date_op", "BETWEEN"),
            ("date_start", "2020-05-01"),
            ("date_end", "2019-01-01"),
            ("occurrences", "two"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&r.body, "occurrences").as_deref(), Some("two"));
    assert_eq!(field(&r.body, "date_start").as_deref(), Some("2020-05-01"));
    edit_ok(
        &app,
        &ns,
        "new",
        &[
            ("op", "modifiers"),
            ("criterion", "c2"),
            ("date_op", "BETWEEN"),
            ("date_start", "2020-05-01"),
            ("date_end", "2019-01-01"),
        ],
    )
    .await;
    let b = app.get(&format!("/workspaces/{ns}/cohorts/new")).await.body;
    assert!(
        texts(&b, "#criterion-c2 .field-error")
            .iter()
            .any(|e| e.contains("before it starts")),
        "{:?}",
        texts(&b, "#criterion-c2 .field-error")
    );
    // "Add Criteria" with nothing chosen: answered on its page.
    let r = edit(
        &app,
        &ns,
        "new",
        &[("op", "add"), ("section", "include"), ("type", "race")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.body).contains("Select at least one."));
    // A criterion that is no longer there; a menu entry that does not exist.
    let r = edit(&app, &ns, "new", &[("op", "remove"), ("criterion", "c99")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.body).contains("out of date"));
    assert_eq!(
        app.get(&format!(
            "/workspaces/{ns}/cohorts/new/criteria?type=nothing"
        ))
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // A name that is too long: refused, the description as typed.
    let long = "n".repeat(81);
    let r = app
        .submit(
            &format!("/workspaces/{ns}/cohorts/new"),
            &format!("/workspaces/{ns}/cohorts/new/save"),
            &[("name", &long), ("description", "typed"), ("mode", "save")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.body).contains("typed"));
    // Saving a definition with problems is refused; the draft stays.
    let r = app
        .submit(
            &format!("/workspaces/{ns}/cohorts/new"),
            &format!("/workspaces/{ns}/cohorts/new/save"),
            &[("name", "Broken"), ("mode", "save")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.body).contains("each is named at its criterion"));
    assert!(draft(&app, &ns, "new").await.is_some());
    // Another workspace's cohort id, and a key that is not one.
    let r = app
        .post_json(
            &format!("/api/v1/workspaces/{other}/cohorts"),
            &json!({"name": "Theirs", "definition": {"include": [{"id": "g", "criteria": [{"id": "c", "kind": {"type": "HAS_EHR_DATA"}}]}]}}),
        )
        .await;
    let theirs = serde_json::from_str::<Value>(&r.body).unwrap()["id"]
        .as_i64()
        .unwrap();
    for path in [
        format!("/workspaces/{ns}/cohorts/{theirs}"),
        format!("/workspaces/{ns}/cohorts/{theirs}/sql"),
        format!("/workspaces/{ns}/cohorts/{theirs}/delete"),
        format!("/workspaces/{ns}/cohorts/abc"),
    ] {
        assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = edit(&app, &ns, "new", &[("op", "remove"), ("criterion", "c1")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = app.get(&format!("/workspaces/{ns}/cohorts/new")).await.body;
    let r = app
        .submit_raw_form(
            &format!("/workspaces/{ns}/cohorts/{theirs}/edit"),
            &page,
            &[("op", "remove"), ("criterion", "c")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Discard changes: the draft goes.
    let r = app
        .submit(
            &format!("/workspaces/{ns}/cohorts/new"),
            &format!("/workspaces/{ns}/cohorts/new/discard"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(draft(&app, &ns, "new").await.is_none());
}

async fn readers_view_cohorts_and_strangers_get_404(app: TestApp) {
    use wb_domain::workspace::WorkspaceRole;
    let reader = app
        .user_with_access("grace.h", "grace@northfield.example")
        .await;
    app.sign_out().await;
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Shared", "registered").await;
    edit_ok(
        &app,
        &ns,
        "new",
        &[
            ("op", "add"),
            ("section", "include"),
            ("group", ""),
            ("type", "ehr"),
        ],
    )
    .await;
    let r = app
        .submit(
            &format!("/workspaces/{ns}/cohorts/new"),
            &format!("/workspaces/{ns}/cohorts/new/save"),
            &[("name", "Everyone with EHR"), ("mode", "save")],
        )
        .await;
    let to = r.location.unwrap();
    let key = to
        .trim_start_matches(&format!("/workspaces/{ns}/cohorts/"))
        .trim_end_matches("?saved=1")
        .to_owned();
    let share = format!("/workspaces/{ns}/share");
    let r = app
        .submit(
            &share,
            &share,
            &[(&format!("role_{reader}"), WorkspaceRole::Reader.code())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    app.sign_out().await;
    app.sign_in("grace.h", PASSWORD).await;
    let list = app.get(&format!("/workspaces/{ns}")).await.body;
    assert!(!list.contains("/cohorts/new"), "no Cohorts + for readers");
    assert!(text_of(&list).contains("Everyone with EHR"));
    let b = app.get(&format!("/workspaces/{ns}/cohorts/{key}")).await;
    assert_eq!(b.status, StatusCode::OK);
    assert!(!b.body.contains("/edit\""), "no edit forms for readers");
    assert!(text_of(&b.body).contains("Has EHR data"));
    assert_ne!(one(&b.body, "#total-count"), "—");
    assert_eq!(
        app.get(&format!("/workspaces/{ns}/cohorts/{key}/sql"))
            .await
            .status,
        StatusCode::OK
    );
    for path in [
        "new".to_owned(),
        format!("{key}/delete"),
        "new/criteria?type=race".to_owned(),
    ] {
        assert_eq!(
            app.get(&format!("/workspaces/{ns}/cohorts/{path}"))
                .await
                .status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let r = app
        .submit_raw_form(
            &format!("/workspaces/{ns}/cohorts/{key}/edit"),
            &b.body,
            &[("op", "remove"), ("criterion", "c1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    app.sign_out().await;
    app.user_with_access("alan.t", "alan@northfield.example")
        .await;
    assert_eq!(
        app.get(&format!("/workspaces/{ns}/cohorts/{key}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Every count a page shows: criterion, group and total counts, attrition, chart bars and
/// concept search results.
fn counts_on(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for sel in [
        ".count",
        "#total-count",
        "table.attrition td:nth-child(2)",
        ".chart-count",
        ".count-inline",
        "table.cohort-list td:nth-child(2)",
    ] {
        out.extend(texts(html, sel));
    }
    out
}

fn none_from_1_to_20(page: &str, html: &str) -> usize {
    let counts = counts_on(html);
    for c in &counts {
        if let Ok(n) = c.replace(',', "").parse::<u64>() {
            assert!(!(1..=20).contains(&n), "{page} shows the count {n}");
        }
    }
    // The chart's text alternative names each bar's count too.
    let doc = Html::parse_document(html);
    let svg = Selector::parse("figure.chart svg").unwrap();
    for s in doc.select(&svg) {
        let label = s.value().attr("aria-label").unwrap_or_default();
        for part in label.split(", ").filter(|p| !p.ends_with("≤ 20")) {
            if let Some(n) = part.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()) {
                assert!(!(1..=20).contains(&n), "{page}: {label}");
            }
        }
    }
    counts.iter().filter(|c| c.as_str() == "≤ 20").count()
}

async fn no_page_shows_a_count_from_1_to_20(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Small counts", "registered").await;
    // A condition only a few have, found through the page's own search; a second group
    // added and removed again.
    let engine = wb_cdr::cohort::Engine::open(crate::support::test_cdr()).unwrap();
    let ix = &engine.cdr().index;
    let rare = engine
        .cdr()
        .all_concepts()
        .filter(|c| c.domain == "Condition")
        .find(|c| (1..=20).contains(&ix.rollup_count(c.concept_id)))
        .expect("a rare condition")
        .clone();
    let rare_id = rare.concept_id.to_string();
    let mut suppressed = 0;
    let search = app
        .get(&format!(
            "/workspaces/{ns}/cohorts/new/criteria?type=condition&section=include&group=&list=criteria&q={}",
            rare.code
        ))
        .await
        .body;
    assert!(
        search.contains(&format!("value=\"{rare_id}\"")),
        "{}",
        text_of(&search)
    );
    suppressed += none_from_1_to_20("the concept search", &search);
    edit_ok(
        &app,
        &ns,
        "new",
        &[
            ("op", "add"),
            ("section", "include"),
            ("group", ""),
            ("type", "condition"),
            ("concept_id", &rare_id),
        ],
    )
    .await;
    edit_ok(
        &app,
        &ns,
        "new",
        &[
            ("op", "add"),
            ("section", "include"),
            ("group", ""),
            ("type", "ehr"),
        ],
    )
    .await;
    let pages = [
        format!("/workspaces/{ns}/cohorts/new"),
        format!(
            "/workspaces/{ns}/cohorts/new/criteria?type=race&section=include&group=&list=criteria"
        ),
        format!(
            "/workspaces/{ns}/cohorts/new/criteria?type=sex&section=include&group=&list=criteria"
        ),
        format!(
            "/workspaces/{ns}/cohorts/new/criteria?type=survey&section=include&group=&list=criteria"
        ),
        format!(
            "/workspaces/{ns}/cohorts/new/criteria?type=pm&section=include&group=&list=criteria"
        ),
        format!(
            "/workspaces/{ns}/cohorts/new/criteria?type=condition&section=include&group=&list=criteria"
        ),
    ];
    for p in &pages {
        let r = app.get(p).await;
        assert_eq!(r.status, StatusCode::OK, "{p}");
        suppressed += none_from_1_to_20(p, &r.body);
    }
    edit_ok(&app, &ns, "new", &[("op", "remove_group"), ("group", "g2")]).await;
    let b = app.get(&pages[0]).await.body;
    suppressed += none_from_1_to_20("the builder", &b);
    assert_eq!(one(&b, "#total-count"), "≤ 20", "{}", text_of(&b));
    let r = app
        .submit(
            &pages[0],
            &format!("/workspaces/{ns}/cohorts/new/save"),
            &[("name", "Rare"), ("mode", "save")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    let saved = app.get(&r.location.unwrap()).await.body;
    suppressed += none_from_1_to_20("the saved cohort", &saved);
    let list = app
        .get(&format!("/workspaces/{ns}?show=cohorts"))
        .await
        .body;
    suppressed += none_from_1_to_20("the cohort list", &list);
    assert!(
        texts(&list, "table.cohort-list td")
            .iter()
            .any(|t| t == "≤ 20")
    );
    assert!(
        suppressed >= 5,
        "the scan saw small counts to hide: {suppressed}"
    );
}
