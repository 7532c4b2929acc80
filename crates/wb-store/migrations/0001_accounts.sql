-- Accounts: institutions with data use agreements, researchers, sessions, one-time tokens,
-- sign-in throttling and the audit trail.
--
-- Written once for SQLite and PostgreSQL. Conventions that keep the two alike:
--   * times are BIGINT seconds since the Unix epoch (UTC);
--   * flags are BIGINT 0/1;
--   * {{ID}} is an auto-numbered BIGINT primary key in either dialect.

CREATE TABLE institutions (
    short_name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    organization_type TEXT NOT NULL,
    organization_type_other TEXT,
    agreement_type TEXT NOT NULL,
    request_access_url TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Per access tier: who is eligible ('domains', 'addresses' or 'no_access').
CREATE TABLE institution_tiers (
    institution TEXT NOT NULL REFERENCES institutions (short_name) ON DELETE CASCADE,
    tier TEXT NOT NULL,
    requirement TEXT NOT NULL,
    PRIMARY KEY (institution, tier)
);

-- The e-mail domains ('domain') and addresses ('address') listed for a tier, lower case.
CREATE TABLE institution_tier_emails (
    institution TEXT NOT NULL,
    tier TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (institution, tier, kind, value),
    FOREIGN KEY (institution, tier) REFERENCES institution_tiers (institution, tier) ON DELETE CASCADE
);

-- "Don't see your institution listed?" requests, for administrators.
CREATE TABLE institution_requests (
    id {{ID}},
    institution_name TEXT NOT NULL,
    contact_name TEXT NOT NULL,
    contact_email TEXT NOT NULL,
    website TEXT,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id {{ID}},
    username TEXT NOT NULL UNIQUE,
    contact_email TEXT NOT NULL,
    contact_email_canonical TEXT NOT NULL UNIQUE,
    institution TEXT NOT NULL REFERENCES institutions (short_name),
    role TEXT NOT NULL,
    role_other TEXT,
    -- Public profile.
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    degrees TEXT NOT NULL,
    professional_url TEXT,
    research_background TEXT NOT NULL,
    -- Private: institutional mailing address, discovery answers, demographics (JSON).
    street1 TEXT NOT NULL,
    street2 TEXT,
    city TEXT NOT NULL,
    state TEXT NOT NULL,
    zip TEXT NOT NULL,
    country TEXT NOT NULL,
    discovery_json TEXT NOT NULL,
    demographics_json TEXT NOT NULL,
    -- Credentials. A temporary password must be changed at the first sign-in.
    password_hash TEXT NOT NULL,
    password_is_temporary BIGINT NOT NULL,
    temporary_password_expires_at BIGINT,
    password_changed_at BIGINT,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    first_sign_in_at BIGINT
);

-- Every acceptance of the Terms of Use and Privacy Statement, by version.
CREATE TABLE terms_acceptances (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    accepted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, version)
);

-- Server-side sessions. Only a SHA-256 of the cookie value is stored.
-- stage: 'password_change' (signed in with a temporary password) or 'active'.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Single-use, expiring password reset links. Only a SHA-256 of the token is stored.
CREATE TABLE password_reset_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

-- Consecutive failed sign-ins per key ('account:<name>' or 'ip:<addr>'); kept for unknown
-- names too, so a lockout does not reveal whether an account exists.
CREATE TABLE sign_in_failures (
    throttle_key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_started_at BIGINT NOT NULL,
    locked_until BIGINT
);

-- Who did what, when. Appended to, never updated.
CREATE TABLE audit_events (
    id {{ID}},
    at BIGINT NOT NULL,
    actor_user_id BIGINT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_user_id BIGINT,
    detail TEXT NOT NULL,
    ip TEXT
);
CREATE INDEX audit_events_target ON audit_events (target_user_id);

CREATE TABLE app_meta (
    meta_key TEXT PRIMARY KEY,
    meta_value TEXT NOT NULL
);
