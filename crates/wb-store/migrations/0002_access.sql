-- Data access registration: access modules and what completes them (2-step verification,
-- identity verification, training, the code of conduct), reminders and tier changes.

-- One row per user and module: when it was completed or bypassed (by an administrator, with a
-- reason) and, for the code of conduct, which version was signed.
CREATE TABLE access_modules (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    module TEXT NOT NULL,
    completed_at BIGINT,
    bypassed_at BIGINT,
    bypass_reason TEXT,
    version BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, module)
);

-- The user's TOTP authenticator. The seed is sealed (encrypted) with the server key;
-- last_used_step makes every code single-use.
CREATE TABLE totp_authenticators (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_used_step BIGINT
);

-- Recovery codes, stored as SHA-256 only, each usable once.
CREATE TABLE recovery_codes (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- External identities (OpenID Connect): one identity binds to one account.
CREATE TABLE identity_links (
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    acr TEXT,
    verified_at BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);

-- Training: the course modules a user has finished, and every assessment attempt with the
-- questions that were drawn for it.
CREATE TABLE training_progress (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course TEXT NOT NULL,
    module_key TEXT NOT NULL,
    completed_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, course, module_key)
);

CREATE TABLE assessment_attempts (
    id {{ID}},
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course TEXT NOT NULL,
    questions TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    submitted_at BIGINT,
    correct BIGINT,
    total BIGINT,
    passed BIGINT
);
CREATE INDEX assessment_attempts_user ON assessment_attempts (user_id, course);

-- Every signature of the Data User Code of Conduct.
CREATE TABLE code_of_conduct_signatures (
    id {{ID}},
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    initials TEXT NOT NULL,
    signed_at BIGINT NOT NULL
);

-- Expiry reminders already sent, so the daily job is idempotent across restarts.
CREATE TABLE access_reminders (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tier TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    days_before BIGINT NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, tier, expires_at, days_before)
);

-- The tiers a user held when last computed, to record each grant and loss.
CREATE TABLE user_tiers (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tier TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, tier)
);
