//! Fresh databases for tests of this and other crates: a new SQLite file, or a new database on
//! the PostgreSQL server named by `WB_TEST_POSTGRES_URL`.

use crate::Store;

fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "wb_test_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A migrated store on a new SQLite file under the system temp dir.
pub async fn sqlite() -> Store {
    let dir = std::env::temp_dir().join("workbench-tests");
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let path = dir.join(format!("{}.sqlite3", unique_name()));
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("open sqlite");
    store.migrate(0).await.expect("migrate sqlite");
    store
}

/// A migrated store on a new PostgreSQL database, or `None` when `WB_TEST_POSTGRES_URL` is
/// unset. With `WB_TEST_REQUIRE_PEERS=1` a missing server is a failure, not a skip.
pub async fn postgres() -> Option<Store> {
    let Ok(admin_url) = std::env::var("WB_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("WB_TEST_REQUIRE_PEERS").as_deref() != Ok("1"),
            "WB_TEST_REQUIRE_PEERS=1 but WB_TEST_POSTGRES_URL is not set"
        );
        eprintln!("WB_TEST_POSTGRES_URL not set: skipping the PostgreSQL run");
        return None;
    };
    let admin = Store::connect(&admin_url).await.expect("connect postgres");
    let name = unique_name();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(admin.pool())
        .await
        .expect("create test database");
    admin.close().await;
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("WB_TEST_POSTGRES_URL ends with /<database>");
    let store = Store::connect(&format!("{base}/{name}"))
        .await
        .expect("connect test database");
    store.migrate(0).await.expect("migrate postgres");
    Some(store)
}
