-- Operator controls (issue 8): claim paths for the other download orders, so a claim with
-- sync.order = oldest-first | smallest-first | key walks an index instead of sorting the whole
-- queue, and `retry --class` finds failed jobs by class. Partial indexes: small when most jobs are done.
CREATE INDEX jobs_queued_oldest ON jobs (remote_modified_ms ASC, id) WHERE state = 'queued';
CREATE INDEX jobs_queued_smallest ON jobs (remote_size ASC, id) WHERE state = 'queued';
CREATE INDEX jobs_queued_key ON jobs (key) WHERE state = 'queued';
CREATE INDEX jobs_failed_class ON jobs (error_class) WHERE state = 'failed';
