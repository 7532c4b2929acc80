//! The data behind the demo dataset versions. On a start with the demo on (`demo.load`),
//! `wb serve` generates a small synthetic CDR under `<data_dir>/cdr/demo-<persons>` (with its
//! index) and points every live dataset version that has no data directory at it, so a new
//! user's workspace has data to analyse. A version registered with `--data-dir` keeps its own.
//! Generation runs in the background on one blocking thread; the server answers meanwhile.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wb_cdr::generate::GenerateConfig;
use wb_cdr::index::Index;
use wb_store::Store;

/// Where the demo CDR of `persons` persons lives.
pub fn demo_dir(data_dir: &Path, persons: u64) -> PathBuf {
    data_dir.join("cdr").join(format!("demo-{persons}"))
}

/// Generates the demo CDR unless it is there, and attaches it to the dataset versions that
/// have no data. Returns the directory and how many versions were attached (0: nothing to do).
pub async fn ensure(store: &Store, data_dir: &Path, persons: u64) -> Result<(PathBuf, usize)> {
    let dir = demo_dir(data_dir, persons);
    let mut waiting = Vec::new();
    for tier in ["registered", "controlled"] {
        waiting.extend(
            store
                .cdr_versions(tier)
                .await?
                .into_iter()
                .filter(|v| v.data_dir.is_none()),
        );
    }
    if waiting.is_empty() || persons == 0 {
        return Ok((dir, 0));
    }
    if !dir.join("manifest.json").is_file() {
        let out = dir.clone();
        tokio::task::spawn_blocking(move || generate(&out, persons))
            .await
            .context("the demo CDR generation stopped")??;
    }
    let dir = std::fs::canonicalize(&dir).with_context(|| format!("{}", dir.display()))?;
    let text = dir.display().to_string();
    let mut attached = 0;
    for v in waiting {
        if store.attach_cdr_data(v.id, &text).await? {
            attached += 1;
        }
    }
    Ok((dir, attached))
}

fn generate(out: &Path, persons: u64) -> Result<()> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("{}", parent.display()))?;
    }
    let cfg = GenerateConfig {
        persons,
        // One worker: the server keeps the other core for requests.
        threads: 1,
        ..Default::default()
    };
    wb_cdr::generate::generate(out, &cfg, &|_, _| {}, &mut |staging| {
        Index::build_and_save(staging).map(|_| ())
    })
    .with_context(|| format!("generating the demo CDR in {}", out.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn attaches_once_and_keeps_registered_directories(store: Store) {
        let tmp = tempfile::tempdir().unwrap();
        let rt = store
            .register_cdr_version("Registered Tier Dataset v7", "registered", true, None, 1)
            .await
            .unwrap();
        let ct = store
            .register_cdr_version("Controlled Tier Dataset v7", "controlled", true, None, 1)
            .await
            .unwrap();
        let own = store
            .register_cdr_version(
                "Controlled Tier Dataset v8",
                "controlled",
                false,
                Some("/srv/ct8"),
                2,
            )
            .await
            .unwrap();
        let (dir, n) = ensure(&store, tmp.path(), 300).await.unwrap();
        assert_eq!(n, 2);
        assert!(dir.join("manifest.json").is_file() && dir.join("index").is_dir());
        let text = dir.display().to_string();
        for id in [rt, ct] {
            let v = store.cdr_version(id).await.unwrap().unwrap();
            assert_eq!(v.data_dir.as_deref(), Some(text.as_str()));
        }
        let v = store.cdr_version(own).await.unwrap().unwrap();
        assert_eq!(v.data_dir.as_deref(), Some("/srv/ct8"));
        // The CDR opens and counts persons.
        let cdr = wb_cdr::search::Cdr::open(&dir).unwrap();
        assert_eq!(cdr.index.persons(), 300);
        // A second start: nothing to attach, nothing generated again.
        let modified = std::fs::metadata(dir.join("manifest.json"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(ensure(&store, tmp.path(), 300).await.unwrap().1, 0);
        let again = std::fs::metadata(dir.join("manifest.json"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(modified, again);
    }

    #[tokio::test]
    async fn demo_cdr_on_sqlite() {
        attaches_once_and_keeps_registered_directories(wb_store::testing::sqlite().await).await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set WB_TEST_POSTGRES_URL (scripts/test starts one and runs these)"]
    async fn demo_cdr_on_postgres() {
        if let Some(s) = wb_store::testing::postgres().await {
            attaches_once_and_keeps_registered_directories(s).await;
        }
    }
}
