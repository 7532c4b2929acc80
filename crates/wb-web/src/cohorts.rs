//! The cohort builder's server side, shared by the pages and the JSON API: a workspace's
//! dataset (its own CDR version, never another tier's), and counts run on the blocking pool
//! through the [`CdrService`](wb_domain::analysis::CdrService) the binary provides.

use chrono::NaiveDate;
use wb_domain::analysis::CountAnswer;
use wb_domain::cohort::CohortDefinition;
use wb_store::{CdrVersion, WorkspaceRecord};

use crate::error::{WebError, WebResult};
use crate::state::AppState;

/// A workspace's dataset version and where its data is.
pub struct Dataset {
    pub version: CdrVersion,
    pub data_dir: String,
}

/// The date "Current Age" is taken at: the server clock's UTC date.
pub fn today(state: &AppState) -> NaiveDate {
    chrono::DateTime::from_timestamp(state.now(), 0)
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

/// The workspace's own dataset version with its data: 503 while it has none.
pub async fn dataset(state: &AppState, ws: &WorkspaceRecord) -> WebResult<Dataset> {
    let version = state
        .store
        .cdr_version(ws.cdr_version_id)
        .await?
        .ok_or_else(|| WebError::Cdr(format!("dataset version {} is gone", ws.cdr_version_id)))?;
    if version.tier != ws.tier {
        // Workspace creation prevents this; refuse rather than reach another tier's data.
        return Err(WebError::Forbidden(format!(
            "This workspace's dataset \"{}\" is not a {} dataset.",
            version.name, ws.tier
        )));
    }
    let Some(data_dir) = version.data_dir.clone() else {
        return Err(WebError::Unavailable(format!(
            "The dataset \"{}\" has no data yet. An administrator registers it with `wb cdr \
             register --data-dir`; the demo dataset is generated in the background at the \
             first start and is ready in a minute.",
            version.name
        )));
    };
    Ok(Dataset { version, data_dir })
}

fn service(state: &AppState) -> WebResult<std::sync::Arc<dyn wb_domain::analysis::CdrService>> {
    state.analysis.get().cloned().ok_or_else(|| {
        WebError::Unavailable("This server was started without its dataset engines.".into())
    })
}

/// Checks and counts `def` over the workspace's dataset.
pub async fn count(
    state: &AppState,
    ws: &WorkspaceRecord,
    def: CohortDefinition,
) -> WebResult<(Dataset, CountAnswer)> {
    let data = dataset(state, ws).await?;
    let svc = service(state)?;
    let (dir, today) = (data.data_dir.clone(), today(state));
    let answer = tokio::task::spawn_blocking(move || svc.count(&dir, &def, today))
        .await
        .map_err(|e| WebError::Cdr(format!("the count stopped: {e}")))??;
    Ok((data, answer))
}

/// The SQL `def` compiles to over the workspace's dataset ("View SQL").
pub async fn sql(
    state: &AppState,
    ws: &WorkspaceRecord,
    def: CohortDefinition,
) -> WebResult<String> {
    let data = dataset(state, ws).await?;
    let svc = service(state)?;
    let (dir, today) = (data.data_dir.clone(), today(state));
    tokio::task::spawn_blocking(move || svc.sql(&dir, &def, today))
        .await
        .map_err(|e| WebError::Cdr(format!("compiling stopped: {e}")))?
        .map_err(WebError::from)
}

/// Concept search and browsing over the workspace's dataset.
pub async fn concepts(
    state: &AppState,
    ws: &WorkspaceRecord,
    q: wb_domain::analysis::ConceptQuery,
) -> WebResult<Vec<wb_domain::analysis::ConceptHit>> {
    let data = dataset(state, ws).await?;
    let svc = service(state)?;
    let dir = data.data_dir.clone();
    tokio::task::spawn_blocking(move || svc.concepts(&dir, &q))
        .await
        .map_err(|e| WebError::Cdr(format!("the search stopped: {e}")))?
        .map_err(WebError::from)
}

/// Why a cohort was not saved, for the API and the pages to word.
#[derive(Debug)]
pub enum SaveError {
    Name(String),
    Description(String),
    /// The definition has problems, each at its criterion.
    Invalid(Vec<wb_domain::cohort::CriterionError>),
    /// Another cohort of the workspace has this name.
    NameTaken(String),
    /// Someone saved the cohort since `edited`; nothing was written.
    Stale {
        edited: i64,
        current: i64,
    },
    NotFound,
    Web(WebError),
}

impl From<WebError> for SaveError {
    fn from(e: WebError) -> Self {
        SaveError::Web(e)
    }
}

impl SaveError {
    /// The message for people.
    pub fn message(&self) -> String {
        match self {
            SaveError::Name(m) | SaveError::Description(m) => m.clone(),
            SaveError::Invalid(_) => {
                "The cohort definition has problems; each is named at its criterion.".into()
            }
            SaveError::NameTaken(name) => format!(
                "This workspace has a cohort named \"{name}\" already; choose another name."
            ),
            SaveError::Stale { edited, current } => format!(
                "This cohort was saved since you opened it (revision {current} now, you edited \
                 {edited}). Nothing was overwritten: open it again, or save yours under another \
                 name."
            ),
            SaveError::NotFound => "There is no such cohort in this workspace.".into(),
            SaveError::Web(e) => e.to_string(),
        }
    }
}

/// Where a save goes: a new cohort, or a saved one over the revision edited.
#[derive(Debug, Clone, Copy)]
pub enum SaveTarget {
    New,
    Existing { id: i64, revision: i64 },
}

/// Saves a cohort ("Save Cohort", "Save Cohort as"): the name and description checked, the
/// definition validated and its concepts checked against the workspace's dataset (when the
/// dataset cannot answer now the cohort is saved anyway and counted later), the count taken
/// while checking recorded. Saving clears the saver's draft of it.
pub async fn save_cohort(
    state: &AppState,
    user: &wb_store::UserRecord,
    ws: &WorkspaceRecord,
    target: SaveTarget,
    name: &str,
    description: &str,
    def: &CohortDefinition,
) -> Result<wb_store::CohortRecord, SaveError> {
    use wb_domain::cohort;
    let name = cohort::check_name(name).map_err(SaveError::Name)?;
    let description = cohort::check_description(description).map_err(SaveError::Description)?;
    cohort::validate(def).map_err(SaveError::Invalid)?;
    let counted = match count(state, ws, def.clone()).await {
        Ok((_, CountAnswer::Invalid(errors))) => return Err(SaveError::Invalid(errors)),
        Ok((data, CountAnswer::Counts(c))) => Some((data.version.id, c.total)),
        Err(_) => None,
    };
    let json = serde_json::to_string(def).expect("a definition serialises");
    let hash = cohort::definition_hash(def);
    let actor = format!("user:{}", user.username);
    let w = wb_store::CohortWrite {
        workspace_id: ws.id,
        name: &name,
        description: &description,
        definition: &json,
        definition_hash: &hash,
        user_id: user.id,
        actor: &actor,
        now: state.now(),
    };
    let saved = match target {
        SaveTarget::New => state.store.create_cohort(&w).await,
        SaveTarget::Existing { id, revision } => {
            match state.store.update_cohort(id, revision, &w).await {
                Ok(wb_store::CohortUpdate::Saved(c)) => Ok(*c),
                Ok(wb_store::CohortUpdate::Stale { current }) => {
                    return Err(SaveError::Stale {
                        edited: revision,
                        current: current.revision,
                    });
                }
                Err(e) => Err(e),
            }
        }
    };
    let mut c = match saved {
        Ok(c) => c,
        Err(wb_store::StoreError::Conflict(_)) => return Err(SaveError::NameTaken(name)),
        Err(wb_store::StoreError::NotFound) => return Err(SaveError::NotFound),
        Err(e) => return Err(SaveError::Web(e.into())),
    };
    if let Some((version, total)) = counted {
        record_count(state, ws, &mut c, version, total).await;
    }
    Ok(c)
}

/// Saves a copy of a cohort as "Copy of …" (a number added while the name is taken).
pub async fn duplicate_cohort(
    state: &AppState,
    user: &wb_store::UserRecord,
    ws: &WorkspaceRecord,
    c: &wb_store::CohortRecord,
) -> Result<wb_store::CohortRecord, SaveError> {
    let actor = format!("user:{}", user.username);
    for n in 1..=50 {
        let base = format!("Copy of {}", c.name);
        let name = if n == 1 {
            base
        } else {
            format!("{base} ({n})")
        };
        let name: String = name
            .chars()
            .take(wb_domain::cohort::MAX_NAME_CHARS)
            .collect();
        let w = wb_store::CohortWrite {
            workspace_id: ws.id,
            name: &name,
            description: &c.description,
            definition: &c.definition,
            definition_hash: &c.definition_hash,
            user_id: user.id,
            actor: &actor,
            now: state.now(),
        };
        match state.store.create_cohort(&w).await {
            Ok(copy) => return Ok(copy),
            Err(wb_store::StoreError::Conflict(_)) => continue,
            Err(e) => return Err(SaveError::Web(e.into())),
        }
    }
    Err(SaveError::NameTaken(format!("Copy of {}", c.name)))
}

/// Records a count of the saved definition (kept only while that definition is the saved
/// one).
async fn record_count(
    state: &AppState,
    ws: &WorkspaceRecord,
    c: &mut wb_store::CohortRecord,
    version: i64,
    total: u64,
) {
    match state
        .store
        .record_cohort_count(
            ws.id,
            c.id,
            &c.definition_hash,
            version,
            total as i64,
            state.now(),
        )
        .await
    {
        Ok(true) => {
            c.count_total = Some(total as i64);
            c.count_hash = Some(c.definition_hash.clone());
            c.count_cdr_version_id = Some(version);
            c.counted_at = Some(state.now());
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, cohort = c.id, "count not recorded"),
    }
}

/// A saved cohort's count: the recorded one while it is current, else counted again and
/// recorded (`recounted` true); `None` when the dataset cannot answer now.
pub async fn current_count(
    state: &AppState,
    ws: &WorkspaceRecord,
    c: &wb_store::CohortRecord,
) -> Option<(u64, bool)> {
    if c.count_is_current(ws.cdr_version_id) {
        return c.count_total.map(|n| (n as u64, false));
    }
    let def: CohortDefinition = serde_json::from_str(&c.definition).ok()?;
    match count(state, ws, def).await {
        Ok((data, CountAnswer::Counts(n))) => {
            let mut c = c.clone();
            record_count(state, ws, &mut c, data.version.id, n.total).await;
            Some((n.total, true))
        }
        Ok((_, CountAnswer::Invalid(_))) | Err(_) => None,
    }
}
