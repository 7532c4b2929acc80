-- Workspaces: dataset (CDR) versions, billing accounts, the initial-credits ledger,
-- workspaces with their research purpose, members and review requests.

-- Registered datasets. A workspace picks one of its tier; the newest default is preselected.
CREATE TABLE cdr_versions (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    tier TEXT NOT NULL,
    is_default BIGINT NOT NULL,
    data_dir TEXT,
    created_at BIGINT NOT NULL,
    archived BIGINT NOT NULL DEFAULT 0
);

-- Billing accounts created by an administrator, with an owner, members and an optional budget.
CREATE TABLE billing_accounts (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    owner_user_id BIGINT NOT NULL REFERENCES users (id),
    budget_cents BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE billing_account_members (
    billing_account_id BIGINT NOT NULL REFERENCES billing_accounts (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (billing_account_id, user_id)
);

-- Initial credits: an append-only ledger per user (kind 'initial_grant', 'grant', 'charge' or
-- 'refund'; cents always positive). The balance is a sum, never a stored number.
CREATE TABLE credit_ledger (
    id {{ID}},
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    cents BIGINT NOT NULL,
    at BIGINT NOT NULL,
    workspace_id BIGINT,
    note TEXT NOT NULL
);
CREATE INDEX credit_ledger_user ON credit_ledger (user_id);
CREATE UNIQUE INDEX credit_ledger_one_initial_grant ON credit_ledger (user_id) WHERE kind = 'initial_grant';

CREATE TABLE workspaces (
    id {{ID}},
    namespace TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    creator_user_id BIGINT NOT NULL REFERENCES users (id),
    tier TEXT NOT NULL,
    cdr_version_id BIGINT NOT NULL REFERENCES cdr_versions (id),
    billing_account_id BIGINT REFERENCES billing_accounts (id),
    research_purpose TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE UNIQUE INDEX workspaces_name_per_creator ON workspaces (creator_user_id, name) WHERE deleted_at IS NULL;

CREATE TABLE workspace_members (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX workspace_members_user ON workspace_members (user_id);

-- Requests for a Resource Access Board review of a research purpose (question 6 = yes).
CREATE TABLE review_requests (
    id {{ID}},
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    requested_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    resolved_at BIGINT,
    resolution TEXT
);
