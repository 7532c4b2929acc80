-- Training groups: an instructor's group that trainees join with a code, so the instructor can
-- follow each trainee's progress (account, access modules, workspaces).
CREATE TABLE training_groups (
    id {{ID}},
    name TEXT NOT NULL,
    instructor_user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    join_code TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE training_group_members (
    group_id BIGINT NOT NULL REFERENCES training_groups (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
