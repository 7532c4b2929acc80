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
