-- GPU allocation per node and pool over time: allocatable vs requested by bound pods after every change, at_end marks the final state.
--
-- Replayed from the change log on the receipt clock (observed_at): a node's allocatable
-- nvidia.com/gpu as it advertises it (0 once deleted), and the GPUs requested by the pods bound
-- to it (counted from the change that sets spec.nodeName until the pod is deleted, Succeeded or
-- Failed). One row per change that moves either number; free_gpus may go negative only if the
-- recording is inconsistent.
WITH node_changes AS (
    SELECT run_id, name AS node, seq, observed_at,
        allocatable - COALESCE(LAG(allocatable) OVER (PARTITION BY run_id, uid ORDER BY seq), 0) AS allocatable_delta
    FROM (
        SELECT *, CASE WHEN op IN ('DELETED', 'DELETED_IN_GAP') THEN 0 ELSE COALESCE(gpu_allocatable, 0) END AS allocatable
        FROM nodes
    ) AS n
),
pod_changes AS (
    SELECT run_id, node_name AS node, seq, observed_at,
        bound - COALESCE(LAG(bound) OVER (PARTITION BY run_id, uid ORDER BY seq), 0) AS requested_delta
    FROM (
        SELECT *,
            CASE
                WHEN node_name IS NULL OR op IN ('DELETED', 'DELETED_IN_GAP') OR phase IN ('Succeeded', 'Failed') THEN 0
                ELSE COALESCE(gpu_request, 0)
            END AS bound
        FROM pods
    ) AS p
),
changes AS (
    SELECT run_id, node, seq, observed_at, allocatable_delta, 0 AS requested_delta
    FROM node_changes WHERE allocatable_delta <> 0
    UNION ALL
    SELECT run_id, node, seq, observed_at, 0 AS allocatable_delta, requested_delta
    FROM pod_changes WHERE requested_delta <> 0 AND node IS NOT NULL
),
timeline AS (
    SELECT run_id, node, seq, observed_at,
        SUM(allocatable_delta) OVER (PARTITION BY run_id, node ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS allocatable_gpus,
        SUM(requested_delta) OVER (PARTITION BY run_id, node ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS requested_gpus,
        row_number() OVER (PARTITION BY run_id, node ORDER BY seq DESC) AS from_end
    FROM changes
)
SELECT
    t.run_id,
    t.node,
    n.pool,
    t.seq,
    t.observed_at,
    t.allocatable_gpus,
    t.requested_gpus,
    t.allocatable_gpus - t.requested_gpus AS free_gpus,
    t.from_end = 1 AS at_end
FROM timeline AS t
LEFT JOIN nodes_latest AS n ON n.run_id = t.run_id AND n.name = t.node
ORDER BY t.run_id, t.node, t.seq;
