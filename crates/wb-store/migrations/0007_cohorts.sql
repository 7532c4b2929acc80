-- Saved cohorts of a workspace's cohort builder. `definition` is the JSON of
-- wb_domain::cohort::CohortDefinition and `definition_hash` its definition_hash. The last count
-- is kept with the hash and the dataset version it was taken on, so a page can tell it is stale
-- when either changed. `revision` grows with every save: a save names the revision it edited and
-- is refused when another save came first (no silent overwrite).
CREATE TABLE cohorts (
    id {{ID}},
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    description TEXT NOT NULL,
    definition TEXT NOT NULL,
    definition_hash TEXT NOT NULL,
    revision BIGINT NOT NULL,
    count_total BIGINT,
    count_hash TEXT,
    count_cdr_version_id BIGINT,
    counted_at BIGINT,
    created_by BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_by BIGINT NOT NULL REFERENCES users (id),
    updated_at BIGINT NOT NULL
);

-- Names are unique in a workspace, ignoring case (name_key is the lowercased name).
CREATE UNIQUE INDEX cohorts_workspace_name ON cohorts (workspace_id, name_key);

-- The builder's work in progress, kept on the server as the researcher edits: one draft per
-- user per workspace and cohort (`draft_key` is the cohort id, or 'new' for an unsaved cohort),
-- restored after a refresh or a dropped connection, removed when saved or discarded.
CREATE TABLE cohort_drafts (
    id {{ID}},
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    draft_key TEXT NOT NULL,
    definition TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX cohort_drafts_key ON cohort_drafts (workspace_id, user_id, draft_key);
