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
-- How: every change moves one node, so each figure is a running sum of per-change deltas per
-- scope; the largest free block is the largest k for which some node has at least k free,
-- from running counts of the nodes with at least k free (k from 1 to the largest allocatable,
-- at least 8). This keeps the query linear in the changes (no per-moment join of every node).
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
node_pool AS (
    SELECT run_id, name AS node, pool
    FROM (
        SELECT run_id, name, pool, row_number() OVER (PARTITION BY run_id, name ORDER BY seq DESC) AS recency
        FROM nodes
    ) AS ranked
    WHERE recency = 1
),
node_steps AS (
    SELECT run_id, node, seq, observed_at, allocatable_delta, allocated_delta,
        SUM(allocatable_delta) OVER (PARTITION BY run_id, node ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS allocatable,
        SUM(allocated_delta) OVER (PARTITION BY run_id, node ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS allocated
    FROM changes
),
steps AS (
    SELECT s.run_id, s.seq, p.pool, s.allocatable_delta, s.allocated_delta,
        CASE WHEN s.allocatable > 0 THEN 1 ELSE 0 END
            - CASE WHEN s.allocatable - s.allocatable_delta > 0 THEN 1 ELSE 0 END AS gpu_nodes_delta,
        GREATEST((s.allocatable - s.allocatable_delta) - (s.allocated - s.allocated_delta), 0) AS free_before,
        GREATEST(s.allocatable - s.allocated, 0) AS free_after
    FROM node_steps AS s
    LEFT JOIN node_pool AS p ON p.run_id = s.run_id AND p.node = s.node
),
scoped_steps AS (
    SELECT run_id, seq, 'pool' AS scope, pool,
        CASE WHEN pool IS NULL THEN 'none' ELSE 'pool ' || pool END AS scope_key,
        allocatable_delta, allocated_delta, gpu_nodes_delta, free_before, free_after
    FROM steps
    UNION ALL
    SELECT run_id, seq, 'fleet' AS scope, NULL AS pool, 'fleet' AS scope_key,
        allocatable_delta, allocated_delta, gpu_nodes_delta, free_before, free_after
    FROM steps
),
moments AS (
    SELECT DISTINCT run_id, seq, observed_at FROM changes
),
scopes AS (
    SELECT run_id, scope, pool, scope_key, MIN(seq) AS first_seq
    FROM scoped_steps
    GROUP BY run_id, scope, pool, scope_key
),
grid AS (
    SELECT m.run_id, m.seq, m.observed_at, s.scope, s.pool, s.scope_key
    FROM moments AS m
    JOIN scopes AS s ON s.run_id = m.run_id AND s.first_seq <= m.seq
),
totals AS (
    SELECT g.run_id, g.seq, g.observed_at, g.scope, g.pool, g.scope_key,
        SUM(COALESCE(d.gpu_nodes_delta, 0)) OVER (PARTITION BY g.run_id, g.scope_key ORDER BY g.seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS gpu_nodes,
        SUM(COALESCE(d.allocatable_delta, 0)) OVER (PARTITION BY g.run_id, g.scope_key ORDER BY g.seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS allocatable_gpus,
        SUM(COALESCE(d.allocated_delta, 0)) OVER (PARTITION BY g.run_id, g.scope_key ORDER BY g.seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS allocated_gpus
    FROM grid AS g
    LEFT JOIN scoped_steps AS d ON d.run_id = g.run_id AND d.scope_key = g.scope_key AND d.seq = g.seq
),
block_sizes AS (
    SELECT run_id, unnest(generate_series(1, k_max)) AS k
    FROM (SELECT run_id, CAST(GREATEST(MAX(allocatable), 8) AS BIGINT) AS k_max FROM node_steps GROUP BY run_id) AS bounds
),
threshold_steps AS (
    SELECT d.run_id, d.seq, d.scope_key, b.k,
        CASE WHEN d.free_after >= b.k THEN 1 ELSE 0 END - CASE WHEN d.free_before >= b.k THEN 1 ELSE 0 END AS nodes_delta
    FROM scoped_steps AS d
    JOIN block_sizes AS b
        ON b.run_id = d.run_id AND b.k > LEAST(d.free_before, d.free_after) AND b.k <= GREATEST(d.free_before, d.free_after)
),
thresholds AS (
    SELECT g.run_id, g.seq, g.scope_key, b.k,
        SUM(COALESCE(t.nodes_delta, 0)) OVER (PARTITION BY g.run_id, g.scope_key, b.k ORDER BY g.seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS nodes_free
    FROM grid AS g
    JOIN block_sizes AS b ON b.run_id = g.run_id
    LEFT JOIN threshold_steps AS t ON t.run_id = g.run_id AND t.scope_key = g.scope_key AND t.seq = g.seq AND t.k = b.k
),
blocks AS (
    SELECT run_id, seq, scope_key,
        COALESCE(MAX(CASE WHEN nodes_free > 0 THEN k END), 0) AS largest_free_block,
        MAX(CASE WHEN k = 1 THEN nodes_free END) AS nodes_free_1,
        MAX(CASE WHEN k = 2 THEN nodes_free END) AS nodes_free_2,
        MAX(CASE WHEN k = 4 THEN nodes_free END) AS nodes_free_4,
        MAX(CASE WHEN k = 8 THEN nodes_free END) AS nodes_free_8
    FROM thresholds
    GROUP BY run_id, seq, scope_key
)
SELECT
    t.run_id,
    t.seq,
    t.observed_at,
    t.scope,
    t.pool,
    t.gpu_nodes,
    t.allocatable_gpus,
    t.allocated_gpus,
    t.allocatable_gpus - t.allocated_gpus AS free_gpus,
    b.largest_free_block,
    b.nodes_free_1,
    b.nodes_free_2,
    b.nodes_free_4,
    b.nodes_free_8
FROM totals AS t
JOIN blocks AS b ON b.run_id = t.run_id AND b.seq = t.seq AND b.scope_key = t.scope_key
ORDER BY t.run_id, t.seq, t.scope DESC, t.pool NULLS LAST;
