//! The cohort count API over HTTP, against the real engines over a generated CDR: counts and
//! the dissemination rule, bad definitions answered at their criterion, who may count, a
//! dataset without data, and data attached without a restart.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wb_domain::cohort::CohortDefinition;

use crate::support::{TestApp, test_cdr};

mod pages;

crate::on_both_databases!(
    counts_follow_the_engine_and_hide_small_counts,
    bad_definitions_are_answered_at_their_criterion,
    only_writers_and_owners_of_the_workspace_count,
    a_dataset_without_data_answers_503_until_data_is_attached,
    parallel_counts_agree,
    saved_cohorts_are_listed_revised_duplicated_and_deleted,
    view_sql_gives_the_sql_that_selects_the_same_persons,
    concepts_are_searched_and_browsed_with_counts,
    drafts_keep_unfinished_work_per_user,
);

async fn drafts_keep_unfinished_work_per_user(app: TestApp) {
    use reqwest::Method;
    use wb_domain::workspace::WorkspaceRole;
    let grace = app
        .user_with_access("grace.h", "grace@northfield.example")
        .await;
    app.sign_out().await;
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Drafts", "registered").await;
    let other = app.create_workspace("Elsewhere", "registered").await;
    let new = format!("/api/v1/workspaces/{ns}/cohort-drafts/new");
    assert_eq!(app.get(&new).await.status, StatusCode::NOT_FOUND);
    // Half-typed work is kept as it is, invalid or not.
    let unfinished = json!({"include": [{"id": "g1", "criteria": []}]});
    let r = app
        .api(
            Method::PUT,
            &new,
            Some(&json!({ "definition": unfinished })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let back: Value = serde_json::from_str(&app.get(&new).await.body).unwrap();
    assert_eq!(back["definition"], unfinished);
    // Saving the cohort removes the new-cohort draft.
    let base = format!("/api/v1/workspaces/{ns}/cohorts");
    let r = app
        .post_json(
            &base,
            &json!({"name": "T2D", "definition": t2d_without_insulin()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = serde_json::from_str::<Value>(&r.body).unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(app.get(&new).await.status, StatusCode::NOT_FOUND);
    // A draft of a saved cohort; another workspace's cohort id is not found.
    let of_saved = format!("/api/v1/workspaces/{ns}/cohort-drafts/{id}");
    let r = app
        .api(
            Method::PUT,
            &of_saved,
            Some(&json!({ "definition": unfinished })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let elsewhere = format!("/api/v1/workspaces/{other}/cohort-drafts/{id}");
    assert_eq!(app.get(&elsewhere).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.api(Method::PUT, &elsewhere, Some(&json!({ "definition": {} })))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.api(Method::PUT, &of_saved, Some(&json!({ "text": 1 })))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Drafts are per user: a writer collaborator has none of Ada's.
    let share = format!("/workspaces/{ns}/share");
    let r = app
        .submit(
            &share,
            &share,
            &[(&format!("role_{grace}"), WorkspaceRole::Writer.code())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    app.sign_out().await;
    app.sign_in("grace.h", PASSWORD).await;
    assert_eq!(app.get(&of_saved).await.status, StatusCode::NOT_FOUND);
    app.sign_out().await;
    app.sign_in("ada.l", PASSWORD).await;
    assert_eq!(app.get(&of_saved).await.status, StatusCode::OK);
    assert_eq!(
        app.api(Method::DELETE, &of_saved, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&of_saved).await.status, StatusCode::NOT_FOUND);
}

async fn concepts_are_searched_and_browsed_with_counts(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Concepts", "registered").await;
    let get = |q: String| {
        let app = &app;
        let ns = ns.clone();
        async move {
            let r = app
                .get(&format!("/api/v1/workspaces/{ns}/concepts?{q}"))
                .await;
            (
                r.status,
                serde_json::from_str::<Value>(&r.body).unwrap_or(Value::Null),
            )
        }
    };
    let (status, hits) = get("q=type%202%20diab&domain=Condition".into()).await;
    assert_eq!(status, StatusCode::OK, "{hits}");
    let t2d = hits
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["concept_id"] == 201826)
        .unwrap_or_else(|| panic!("type 2 diabetes in {hits}"));
    shown(
        &t2d["participants"],
        engine().cdr().index.rollup_count(201826),
    );
    assert!(
        hits.as_array()
            .unwrap()
            .iter()
            .all(|h| h["domain"] == "Condition")
    );
    no_small_counts(&hits);
    // Ranked by participants.
    let counts: Vec<u64> = hits
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["participants"]["count"].as_u64())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]) || counts.len() < 2,
        "{counts:?}"
    );
    // Browsing: the roots of a domain, then children.
    let (status, roots) = get("domain=Condition".into()).await;
    assert_eq!(status, StatusCode::OK);
    let root = roots
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["has_children"] == true)
        .expect("a root with children");
    let (status, children) = get(format!("parent={}", root["concept_id"])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!children.as_array().unwrap().is_empty());
    no_small_counts(&children);
    let (status, _) = get(format!("q={}", "x".repeat(201))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn view_sql_gives_the_sql_that_selects_the_same_persons(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("SQL", "registered").await;
    let def = t2d_without_insulin();
    let r = app
        .post_json(
            &format!("/api/v1/workspaces/{ns}/cohorts/sql"),
            &json!({ "definition": def }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let sql = serde_json::from_str::<Value>(&r.body).unwrap()["sql"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sql.contains("201826") && sql.contains("1596977"), "{sql}");
    let ctx = wb_cdr::cohort_sql::context(test_cdr()).await.unwrap();
    let persons = wb_cdr::cohort_sql::persons(&ctx, &sql).await.unwrap();
    assert_eq!(persons.len() as u64, exact(&def).total);
    let r = app
        .post_json(
            &format!("/api/v1/workspaces/{ns}/cohorts/sql"),
            &json!({ "definition": {"include": []} }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
}

pub const PASSWORD: &str = "violet harbor lantern 2931";

fn engine() -> &'static wb_cdr::cohort::Engine {
    static E: std::sync::LazyLock<wb_cdr::cohort::Engine> =
        std::sync::LazyLock::new(|| wb_cdr::cohort::Engine::open(test_cdr()).unwrap());
    &E
}

fn domain(id: &str, domain: &str, concept: i64) -> Value {
    json!({"id": id, "kind": {"type": "DOMAIN", "domain": domain, "concept_id": concept}})
}

/// Type 2 diabetes, excluding insulin.
fn t2d_without_insulin() -> Value {
    json!({
        "include": [{"id": "g-t2d", "criteria": [domain("c-t2d", "CONDITION", 201826)]}],
        "exclude": [{"id": "g-insulin", "criteria": [domain("c-insulin", "DRUG", 1596977)]}]
    })
}

async fn count(app: &TestApp, ns: &str, definition: Value) -> (StatusCode, Value) {
    let r = app
        .post_json(
            &format!("/api/v1/workspaces/{ns}/cohorts/count"),
            &json!({ "definition": definition }),
        )
        .await;
    let body = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    (r.status, body)
}

/// What the engine says, for comparing with what the API shows.
fn exact(definition: &Value) -> wb_domain::analysis::Counts {
    let def: CohortDefinition = serde_json::from_value(definition.clone()).unwrap();
    let today = chrono::Utc::now().date_naive();
    engine().counts(&def, today).unwrap()
}

fn shown(v: &Value, n: u64) {
    if (1..=20).contains(&n) {
        assert_eq!(v["count"], Value::Null, "{v}");
        assert_eq!(v["display"], "≤ 20", "{v}");
    } else {
        assert_eq!(v["count"], n, "{v}");
        assert_eq!(v["display"], wb_domain::cohort::thousands(n), "{v}");
    }
}

/// No number from 1 to 20 anywhere in a JSON answer's counts.
fn no_small_counts(v: &Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Number(n)) = m.get("count") {
                let n = n.as_u64().unwrap();
                assert!(!(1..=20).contains(&n), "a count of {n} was sent: {v}");
            }
            m.values().for_each(no_small_counts);
        }
        Value::Array(a) => a.iter().for_each(no_small_counts),
        _ => {}
    }
}

async fn counts_follow_the_engine_and_hide_small_counts(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app
        .create_workspace("Diabetes outcomes", "registered")
        .await;
    let def = t2d_without_insulin();
    let (status, body) = count(&app, &ns, def.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let want = exact(&def);
    assert!(want.total > 20, "the test CDR has enough: {}", want.total);
    shown(&body["total"], want.total);
    assert_eq!(body["groups"][0]["id"], "g-t2d");
    assert_eq!(body["groups"][1]["id"], "g-insulin");
    for (i, g) in want.groups.iter().enumerate() {
        shown(&body["groups"][i], g.count);
    }
    for (i, c) in want.criteria.iter().enumerate() {
        assert_eq!(body["criteria"][i]["id"], c.id.as_str());
        shown(&body["criteria"][i], c.count);
    }
    assert_eq!(body["attrition"].as_array().unwrap().len(), 2);
    shown(&body["attrition"][1], want.total);
    let parsed: CohortDefinition = serde_json::from_value(def).unwrap();
    assert_eq!(
        body["definition_hash"],
        wb_domain::cohort::definition_hash(&parsed)
    );
    let registered = app.store.cdr_versions("registered").await.unwrap();
    assert!(
        registered
            .iter()
            .any(|v| body["cdr_version"] == v.name.as_str())
    );
    let sexes = body["chart"]["sex_at_birth"].as_array().unwrap();
    assert!(!sexes.is_empty());
    no_small_counts(&body);

    // A concept only a few people have: every count of it is "≤ 20".
    let ix = &engine().cdr().index;
    let (rare, n) = engine()
        .cdr()
        .all_concepts()
        .filter(|c| c.domain == "Condition")
        .map(|c| (c.concept_id, ix.rollup_count(c.concept_id)))
        .find(|(_, n)| (1..=20).contains(n))
        .expect("a rare condition in the test CDR");
    let def = json!({"include": [{"id": "g", "criteria": [domain("c", "CONDITION", rare)]}]});
    let (status, body) = count(&app, &ns, def).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"]["display"], "≤ 20", "{n}: {body}");
    assert_eq!(body["groups"][0]["display"], "≤ 20");
    assert_eq!(body["criteria"][0]["display"], "≤ 20");
    no_small_counts(&body);
    for bar in body["chart"]["age"].as_array().unwrap() {
        assert!(bar["count"] == 0 || bar["display"] == "≤ 20", "{bar}");
    }
}

async fn bad_definitions_are_answered_at_their_criterion(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Bad input", "registered").await;
    let cases: Vec<(Value, &str, Option<&str>, &str)> = vec![
        (
            json!({"include": [{"id": "g", "criteria": [domain("c-x", "CONDITION", 999_999_999)]}]}),
            "UNKNOWN_CONCEPT",
            Some("c-x"),
            "not in this dataset",
        ),
        (
            json!({"include": [{"id": "g", "criteria": [domain("c-drug", "DRUG", 201826)]}]}),
            "WRONG_DOMAIN",
            Some("c-drug"),
            "Condition",
        ),
        (
            json!({"include": [{"id": "g", "criteria": [
                {"id": "c-age", "kind": {"type": "AGE", "basis": "AGE", "min": 60, "max": 20}}
            ]}]}),
            "CONTRADICTORY_RANGE",
            Some("c-age"),
            "60 to 20",
        ),
        (
            json!({"include": [{"id": "g", "criteria": [{
                "id": "c-dates",
                "kind": {"type": "DOMAIN", "domain": "CONDITION", "concept_id": 201826},
                "modifiers": {"event_date": {"operator": "BETWEEN", "start": "2020-01-01", "end": "2019-01-01"}}
            }]}]}),
            "DATE_RANGE_REVERSED",
            Some("c-dates"),
            "",
        ),
        (
            json!({"include": [{"id": "g-empty", "criteria": []}]}),
            "EMPTY_GROUP",
            None,
            "",
        ),
        (
            json!({"include": (0..21).map(|i| json!({"id": format!("g{i}"), "criteria": [domain(&format!("c{i}"), "CONDITION", 201826)]})).collect::<Vec<_>>()}),
            "TOO_MANY_GROUPS",
            None,
            "at most 20",
        ),
    ];
    for (def, code, criterion, words) in cases {
        let (status, body) = count(&app, &ns, def.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{def}: {body}");
        assert_eq!(body["error"], "invalid_definition");
        let errors = body["errors"].as_array().unwrap();
        let e = errors
            .iter()
            .find(|e| e["code"] == code)
            .unwrap_or_else(|| panic!("{code} in {body}"));
        if let Some(c) = criterion {
            assert_eq!(e["criterion_id"], c, "{e}");
        }
        assert!(e["message"].as_str().unwrap().contains(words), "{e}");
    }
    // Not even a definition: a message saying where, and nothing counted.
    let (status, body) = count(
        &app,
        &ns,
        json!({"include": [{"id": "g", "criteria": [], "colour": "red"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"].as_str().unwrap().contains("colour"),
        "{body}"
    );
    let r = app
        .post_json(
            &format!("/api/v1/workspaces/{ns}/cohorts/count"),
            &json!({"definitions": {}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
}

async fn only_writers_and_owners_of_the_workspace_count(app: TestApp) {
    use wb_domain::workspace::WorkspaceRole;
    let grace = app
        .user_with_access("grace.h", "grace@northfield.example")
        .await;
    app.sign_out().await;
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Shared", "registered").await;
    let (status, _) = count(&app, &ns, t2d_without_insulin()).await;
    assert_eq!(status, StatusCode::OK);
    app.sign_out().await;
    // Not a collaborator: no such workspace.
    app.sign_in("grace.h", PASSWORD).await;
    let (status, body) = count(&app, &ns, t2d_without_insulin()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    app.sign_out().await;
    for (role, want) in [
        (WorkspaceRole::Reader, StatusCode::FORBIDDEN),
        (WorkspaceRole::Writer, StatusCode::OK),
    ] {
        app.sign_in("ada.l", PASSWORD).await;
        let share = format!("/workspaces/{ns}/share");
        let r = app
            .submit(&share, &share, &[(&format!("role_{grace}"), role.code())])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        app.sign_out().await;
        app.sign_in("grace.h", PASSWORD).await;
        let (status, body) = count(&app, &ns, t2d_without_insulin()).await;
        assert_eq!(status, want, "{role:?}: {body}");
        app.sign_out().await;
    }
    // Signed out: 401.
    let (status, body) = count(&app, &ns, t2d_without_insulin()).await;
    assert!(
        status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
        "{status}: {body}"
    );
}

async fn a_dataset_without_data_answers_503_until_data_is_attached(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let now = app.state.now();
    let id = app
        .store
        .register_cdr_version("Registered Tier Dataset v9", "registered", false, None, now)
        .await
        .unwrap();
    let r = app
        .submit_owned(
            "/workspaces/new",
            "/workspaces/new",
            &TestApp::workspace_fields("Waiting for data", "registered", id),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let ns = app.confirm_workspace(&r.body).await;
    let (status, body) = count(&app, &ns, t2d_without_insulin()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "data_unavailable");
    assert!(body["message"].as_str().unwrap().contains("v9"), "{body}");
    // `wb cdr register --data-dir` writes this; the next request uses it, no restart.
    assert!(
        app.store
            .attach_cdr_data(id, &test_cdr().display().to_string())
            .await
            .unwrap()
    );
    let (status, body) = count(&app, &ns, t2d_without_insulin()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cdr_version"], "Registered Tier Dataset v9");
}

async fn parallel_counts_agree(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Parallel", "registered").await;
    let answers = futures_join(
        (0..8)
            .map(|_| count(&app, &ns, t2d_without_insulin()))
            .collect(),
    )
    .await;
    let first = &answers[0].1;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body, first);
    }
}

pub async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::with_capacity(fs.len());
    let handles: Vec<_> = fs.into_iter().map(Box::pin).collect();
    // Poll all at once: each request is in flight before any answer is read.
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for slot in pending.iter_mut() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        out.push(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(std::mem::take(&mut out))
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

async fn saved_cohorts_are_listed_revised_duplicated_and_deleted(app: TestApp) {
    use reqwest::Method;
    use wb_domain::workspace::WorkspaceRole;
    let parse = |r: &crate::support::Resp| -> Value { serde_json::from_str(&r.body).unwrap() };
    let grace = app
        .user_with_access("grace.h", "grace@northfield.example")
        .await;
    app.sign_out().await;
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Saved cohorts", "registered").await;
    let other = app.create_workspace("Another study", "registered").await;
    let base = format!("/api/v1/workspaces/{ns}/cohorts");
    let def = t2d_without_insulin();
    let r = app
        .post_json(
            &base,
            &json!({"name": "T2D without insulin", "description": "Trainee cohort", "definition": def}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let created = parse(&r);
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["revision"], 1);
    shown(&created["count"], exact(&def).total);
    assert_eq!(
        created["definition"],
        serde_json::to_value(serde_json::from_value::<CohortDefinition>(def.clone()).unwrap())
            .unwrap()
    );
    // The count was recorded with the definition's hash.
    let ws = app
        .store
        .workspace_by_namespace(&ns)
        .await
        .unwrap()
        .unwrap();
    let stored = app.store.cohort(ws.id, id).await.unwrap().unwrap();
    assert_eq!(
        stored.count_hash.as_deref(),
        Some(stored.definition_hash.as_str())
    );
    // Listed.
    let list = parse(&app.get(&base).await);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "T2D without insulin");
    assert!(list[0].get("definition").is_none());
    // The same name (ignoring case) is taken; bad input is refused and nothing saved.
    let r = app
        .post_json(
            &base,
            &json!({"name": "t2d WITHOUT insulin", "definition": def}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let r = app
        .post_json(&base, &json!({"name": "  ", "definition": def}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Give the cohort a name"), "{}", r.body);
    let bad =
        json!({"include": [{"id": "g", "criteria": [domain("c-x", "CONDITION", 999_999_999)]}]});
    let r = app
        .post_json(&base, &json!({"name": "Bad", "definition": bad}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(parse(&r)["errors"][0]["criterion_id"], "c-x");
    assert_eq!(parse(&app.get(&base).await).as_array().unwrap().len(), 1);
    // Save over revision 1; saving revision 1 again is refused, not overwritten.
    let mut narrower = def.clone();
    narrower["include"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "g-age", "criteria": [
        {"id": "c-age", "kind": {"type": "AGE", "basis": "AGE", "min": 18, "max": 65}}]}));
    let one = format!("{base}/{id}");
    let body = json!({"name": "T2D adults without insulin", "definition": narrower, "revision": 1});
    let r = app.api(Method::PUT, &one, Some(&body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let saved = parse(&r);
    assert_eq!(saved["revision"], 2);
    shown(&saved["count"], exact(&narrower).total);
    let r = app.api(Method::PUT, &one, Some(&body)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(parse(&r)["error"], "stale_revision");
    let no_revision = json!({"name": "x", "definition": def});
    assert_eq!(
        app.api(Method::PUT, &one, Some(&no_revision)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Another workspace's id: not found, for every verb.
    let elsewhere = format!("/api/v1/workspaces/{other}/cohorts/{id}");
    assert_eq!(app.get(&elsewhere).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.api(Method::PUT, &elsewhere, Some(&body)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.api(Method::DELETE, &elsewhere, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.api(Method::POST, &format!("{elsewhere}/duplicate"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Duplicate.
    let r = app
        .api(Method::POST, &format!("{one}/duplicate"), None)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(parse(&r)["name"], "Copy of T2D adults without insulin");
    let r = app
        .api(Method::POST, &format!("{one}/duplicate"), None)
        .await;
    assert_eq!(parse(&r)["name"], "Copy of T2D adults without insulin (2)");
    // A reader lists and reads, and changes nothing.
    let share = format!("/workspaces/{ns}/share");
    let r = app
        .submit(
            &share,
            &share,
            &[(&format!("role_{grace}"), WorkspaceRole::Reader.code())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    app.sign_out().await;
    app.sign_in("grace.h", PASSWORD).await;
    assert_eq!(parse(&app.get(&base).await).as_array().unwrap().len(), 3);
    assert_eq!(app.get(&one).await.status, StatusCode::OK);
    for (method, path, body) in [
        (
            Method::POST,
            base.clone(),
            Some(json!({"name": "Mine", "definition": def})),
        ),
        (
            Method::PUT,
            one.clone(),
            Some(json!({"name": "Mine", "definition": def, "revision": 2})),
        ),
        (Method::DELETE, one.clone(), None),
        (Method::POST, format!("{one}/duplicate"), None),
    ] {
        let r = app.api(method.clone(), &path, body.as_ref()).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.body
        );
    }
    app.sign_out().await;
    app.sign_in("ada.l", PASSWORD).await;
    // Delete.
    assert_eq!(
        app.api(Method::DELETE, &one, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&one).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.api(Method::DELETE, &one, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(parse(&app.get(&base).await).as_array().unwrap().len(), 2);
}
