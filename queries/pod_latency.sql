-- Pod latency create -> scheduled -> running per pod and its p50/p90/p99, on each clock (named in the clock column).
--
-- Two clocks, never mixed in one row:
-- - 'observed_at (receipt, ns)': when the recorder received the pod ADDED, first with a node,
--   first Running. A pod already there when the recording started (first row SYNC) has no
--   create time on this clock.
-- - 'conditions (object, 1 s)': creationTimestamp, the PodScheduled and Ready conditions'
--   lastTransitionTime; whole seconds, so sub-second latencies read as 0 or 1000 ms.
-- statistic is 'pod' for a pod's row, 'p50' / 'p90' / 'p99' for the percentiles over the pods
-- of that clock (continuous interpolation; NULLs ignored). Deleted pods count too.
WITH receipt AS (
    SELECT
        run_id, namespace, name, uid,
        MIN(CASE WHEN op = 'ADDED' THEN observed_at END) AS created,
        MIN(CASE WHEN node_name IS NOT NULL THEN observed_at END) AS scheduled,
        MIN(CASE WHEN phase = 'Running' THEN observed_at END) AS running
    FROM pods
    GROUP BY run_id, namespace, name, uid
),
object_time AS (
    SELECT
        run_id, namespace, name, uid,
        MIN(created_at) AS created,
        MIN(scheduled_at) AS scheduled,
        MIN(ready_at) AS running
    FROM pods
    GROUP BY run_id, namespace, name, uid
),
per_pod AS (
    SELECT
        run_id, 'observed_at (receipt, ns)' AS clock, namespace, name AS pod,
        ROUND((date_part('epoch', scheduled) - date_part('epoch', created)) * 1000, 3) AS create_to_scheduled_ms,
        ROUND((date_part('epoch', running) - date_part('epoch', scheduled)) * 1000, 3) AS scheduled_to_running_ms,
        ROUND((date_part('epoch', running) - date_part('epoch', created)) * 1000, 3) AS create_to_running_ms
    FROM receipt
    UNION ALL
    SELECT
        run_id, 'conditions (object, 1 s)' AS clock, namespace, name AS pod,
        ROUND((date_part('epoch', scheduled) - date_part('epoch', created)) * 1000, 3),
        ROUND((date_part('epoch', running) - date_part('epoch', scheduled)) * 1000, 3),
        ROUND((date_part('epoch', running) - date_part('epoch', created)) * 1000, 3)
    FROM object_time
),
percentiles AS (
    SELECT run_id, clock, 'p50' AS statistic,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY create_to_scheduled_ms) AS create_to_scheduled_ms,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY scheduled_to_running_ms) AS scheduled_to_running_ms,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY create_to_running_ms) AS create_to_running_ms
    FROM per_pod GROUP BY run_id, clock
    UNION ALL
    SELECT run_id, clock, 'p90',
        percentile_cont(0.9) WITHIN GROUP (ORDER BY create_to_scheduled_ms),
        percentile_cont(0.9) WITHIN GROUP (ORDER BY scheduled_to_running_ms),
        percentile_cont(0.9) WITHIN GROUP (ORDER BY create_to_running_ms)
    FROM per_pod GROUP BY run_id, clock
    UNION ALL
    SELECT run_id, clock, 'p99',
        percentile_cont(0.99) WITHIN GROUP (ORDER BY create_to_scheduled_ms),
        percentile_cont(0.99) WITHIN GROUP (ORDER BY scheduled_to_running_ms),
        percentile_cont(0.99) WITHIN GROUP (ORDER BY create_to_running_ms)
    FROM per_pod GROUP BY run_id, clock
)
SELECT run_id, clock, statistic, namespace, pod, create_to_scheduled_ms, scheduled_to_running_ms, create_to_running_ms
FROM (
    SELECT run_id, clock, 'pod' AS statistic, namespace, pod,
        create_to_scheduled_ms, scheduled_to_running_ms, create_to_running_ms
    FROM per_pod
    UNION ALL
    SELECT run_id, clock, statistic, NULL, NULL,
        ROUND(create_to_scheduled_ms, 3), ROUND(scheduled_to_running_ms, 3), ROUND(create_to_running_ms, 3)
    FROM percentiles
) AS latency
ORDER BY run_id, clock, statistic, namespace, pod;
