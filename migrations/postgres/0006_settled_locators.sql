-- constellr-sync state, version 5: no signed URL outlives its download (issue 22 §6). Immutable once released.
-- A settled job (done, failed, gone) keeps its locator without the URL to fetch and its expiry
-- (`"h": ""`, `"x": 0`, as the store writes them from now on); queued again, it finds the URL anew.
UPDATE jobs SET locator = jsonb_set(jsonb_set(locator::jsonb, '{h}', '""', false), '{x}', '0', false)::text
WHERE state IN ('done', 'failed', 'gone') AND locator LIKE '{%';
