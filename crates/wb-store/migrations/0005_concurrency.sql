-- Throttles reserve each try with one atomic upsert; `refused` tells the caller whether this
-- statement refused the try because the key was locked.
ALTER TABLE sign_in_failures ADD COLUMN refused BIGINT NOT NULL DEFAULT 0;

-- Scheduled jobs: the node holding a job's lease runs it; a lease that is not renewed
-- expires, and another node takes over.
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
