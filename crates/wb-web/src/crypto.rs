//! argon2id off the async worker threads.
//!
//! Hashing or verifying a password takes tens of milliseconds of CPU; done on a tokio worker it
//! stalls every other request that worker carries. These run it on the blocking pool.

/// Verifies `password` against a stored argon2 hash.
pub async fn verify_password(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || wb_auth::verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// Hashes a new password with argon2id.
pub async fn hash_password(password: &str) -> String {
    let owned = password.to_owned();
    tokio::task::spawn_blocking(move || wb_auth::hash_password(&owned))
        .await
        // The blocking pool fails only while the runtime shuts down; hash here then.
        .unwrap_or_else(|_| wb_auth::hash_password(password))
}
