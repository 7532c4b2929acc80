-- Requests for an administrator to verify a user's identity, made from "Verify your identity"
-- when no identity provider is configured. `wb admin identity-requests` lists the open ones;
-- resolving one records when and by whom.
CREATE TABLE identity_requests (
    id {{ID}},
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    requested_at BIGINT NOT NULL,
    resolved_at BIGINT,
    resolved_by TEXT
);

-- At most one open request per user, enforced by the database: a second click (or many in
-- parallel) inserts nothing (INSERT … ON CONFLICT (user_id) WHERE resolved_at IS NULL).
CREATE UNIQUE INDEX identity_requests_open ON identity_requests (user_id)
    WHERE resolved_at IS NULL;
