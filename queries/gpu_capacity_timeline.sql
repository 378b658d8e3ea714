-- GPU capacity after every change, per pool and for the fleet: allocatable, allocated to bound pods, free, the largest free block on one node, and how many nodes have at least 1, 2, 4 and 8 free.
--
-- Replayed from the change log on the receipt clock (observed_at), as gpu_allocation does: a
-- node's allocatable nvidia.com/gpu as its row says at that moment (0 before a device plugin
-- advertises it, and once the node is deleted), and the GPUs requested by the pods bound to
-- it (from the change that sets spec.nodeName until the pod is deleted, Succeeded or Failed).
-- One row per change that moves either number, for every pool present then (scope 'pool',
-- pool NULL for GPU nodes without a pool label) and for the fleet (scope 'fleet', pool NULL).
-- gpu_nodes counts nodes advertising at least one GPU. free_gpus is allocatable minus
-- allocated; a node's free GPUs count towards the largest block and the thresholds only when
-- positive (negative only if the recording is inconsistent).
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
        bound - COALESCE(LAG(bound) OVER (PARTITION BY run_id, uid ORDER BY seq), 0) AS allocated_delta
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
    SELECT run_id, node, seq, observed_at, allocatable_delta, 0 AS allocated_delta
    FROM node_changes WHERE allocatable_delta <> 0
    UNION ALL
    SELECT run_id, node, seq, observed_at, 0 AS allocatable_delta, allocated_delta
    FROM pod_changes WHERE allocated_delta <> 0 AND node IS NOT NULL
),
node_timeline AS (
    SELECT run_id, node, seq,
        LEAD(seq) OVER (PARTITION BY run_id, node ORDER BY seq) AS until_seq,
        SUM(allocatable_delta) OVER (PARTITION BY run_id, node ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS allocatable,
        SUM(allocated_delta) OVER (PARTITION BY run_id, node ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS allocated
    FROM changes
),
node_pool AS (
    SELECT run_id, name AS node, pool
    FROM (
        SELECT run_id, name, pool, row_number() OVER (PARTITION BY run_id, name ORDER BY seq DESC) AS recency
        FROM nodes
    ) AS ranked
    WHERE recency = 1
),
moments AS (
    SELECT DISTINCT run_id, seq, observed_at FROM changes
),
node_states AS (
    SELECT m.run_id, m.seq, m.observed_at, p.pool, t.allocatable, t.allocated,
        GREATEST(t.allocatable - t.allocated, 0) AS free
    FROM moments AS m
    JOIN node_timeline AS t
        ON t.run_id = m.run_id AND t.seq <= m.seq AND (t.until_seq IS NULL OR t.until_seq > m.seq)
    LEFT JOIN node_pool AS p ON p.run_id = t.run_id AND p.node = t.node
),
scoped AS (
    SELECT run_id, seq, observed_at, 'pool' AS scope, pool, allocatable, allocated, free FROM node_states
    UNION ALL
    SELECT run_id, seq, observed_at, 'fleet' AS scope, NULL AS pool, allocatable, allocated, free FROM node_states
)
SELECT
    run_id,
    seq,
    observed_at,
    scope,
    pool,
    COUNT(CASE WHEN allocatable > 0 THEN 1 END) AS gpu_nodes,
    SUM(allocatable) AS allocatable_gpus,
    SUM(allocated) AS allocated_gpus,
    SUM(allocatable) - SUM(allocated) AS free_gpus,
    MAX(free) AS largest_free_block,
    COUNT(CASE WHEN free >= 1 THEN 1 END) AS nodes_free_1,
    COUNT(CASE WHEN free >= 2 THEN 1 END) AS nodes_free_2,
    COUNT(CASE WHEN free >= 4 THEN 1 END) AS nodes_free_4,
    COUNT(CASE WHEN free >= 8 THEN 1 END) AS nodes_free_8
FROM scoped
GROUP BY run_id, seq, observed_at, scope, pool
ORDER BY run_id, seq, scope DESC, pool NULLS LAST;
