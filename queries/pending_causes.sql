-- Pending root causes: each Pending pod's FailedScheduling message split into (reason, node count), preemption verdict kept as text.
--
-- The message is the pod's PodScheduled condition message (the scheduler's latest verdict,
-- never truncated), else the pod's latest FailedScheduling Event. scheduling_reasons() is
-- evident's parser (crates/evident-query/src/failed_scheduling.rs): lenient across scheduler
-- versions; a sentence without a node count (a PreFilter or DRA message) has nodes = NULL.
-- A Pending pod the scheduler has not judged yet has no message and no row.
-- DuckDB variant: queries/duckdb/pending_causes.sql.
WITH latest_failed_event AS (
    SELECT
        run_id,
        involved_uid,
        message,
        row_number() OVER (PARTITION BY run_id, involved_uid ORDER BY seq DESC) AS recency
    FROM events
    WHERE reason = 'FailedScheduling'
),
pending AS (
    SELECT
        p.run_id,
        p.namespace,
        p.name AS pod,
        CASE WHEN p.scheduled_message IS NOT NULL THEN 'pod condition' ELSE 'event' END AS message_source,
        COALESCE(p.scheduled_message, e.message) AS message
    FROM pods_latest AS p
    LEFT JOIN latest_failed_event AS e ON e.run_id = p.run_id AND e.involved_uid = p.uid AND e.recency = 1
    WHERE p.phase = 'Pending'
),
causes AS (
    SELECT run_id, namespace, pod, message_source, message, unnest(scheduling_reasons(message)) AS cause
    FROM pending
)
SELECT
    run_id,
    namespace,
    pod,
    cause['reason'] AS reason,
    cause['nodes'] AS nodes,
    CAST(regexp_match(message, '^0/(\d+) nodes are available')[1] AS BIGINT) AS total_nodes,
    NULLIF(split_part(message, 'preemption: ', 2), '') AS preemption,
    message_source
FROM causes
ORDER BY run_id, namespace, pod, reason;
