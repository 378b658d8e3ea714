-- Why each Pending GPU pod waits, at its first refusal and at the end of the run: shape, fragmentation, capacity or constraint, with the figures that decide it and the scheduler's own message.
--
-- Rows: every pod asking for nvidia.com/gpu that the scheduler refused (a pod row with
-- PodScheduled False/Unschedulable and no node), at the first such row ('first refusal'), and,
-- when it is still Pending and unbound at the end of the recording, at the run's last change
-- ('end'). A pod the scheduler has not judged yet has no row.
-- The fleet at that moment is replayed from the change log (receipt clock, as in
-- gpu_capacity_timeline): each node's row as of that change (allocatable nvidia.com/gpu as it
-- advertised it then) and the GPUs bound to it. A node is eligible when node_admits(pod, node)
-- holds: the pod's node selector, required node affinity and tolerations of the node's
-- NoSchedule/NoExecute taints and cordon admit it (what this leaves out: docs/queries.md).
-- Eligible GPU nodes are the eligible nodes advertising at least one GPU then. Decided in order:
--   constraint    no eligible GPU node, while the fleet has GPU nodes;
--   shape         the request is above every eligible GPU node's allocatable;
--   capacity      the eligible nodes' free GPUs add up to less than the request (also when no
--                 node advertises any GPU yet, e.g. before a device plugin registered);
--   fragmentation enough GPUs free on the eligible nodes, but on no single one of them.
-- class is NULL when an eligible node had the request free in the recorded state: the refusal
-- was not about GPUs as modelled here (CPU, memory, ...), or the state moved in between.
-- scheduler_message is the pod's PodScheduled message at that moment, else its first (at the
-- first refusal) or latest (at the end) FailedScheduling Event's.
-- DuckDB variant: queries/duckdb/pending_classification.sql.
WITH node_versions AS (
    SELECT run_id, name AS node, seq, op, COALESCE(gpu_allocatable, 0) AS allocatable, object,
        LEAD(seq) OVER (PARTITION BY run_id, uid ORDER BY seq) AS until_seq
    FROM nodes
),
pod_changes AS (
    SELECT run_id, node_name AS node, seq,
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
allocated AS (
    SELECT run_id, node, seq,
        LEAD(seq) OVER (PARTITION BY run_id, node ORDER BY seq) AS until_seq,
        SUM(allocated_delta) OVER (PARTITION BY run_id, node ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS gpus
    FROM pod_changes
    WHERE allocated_delta <> 0 AND node IS NOT NULL
),
refusals AS (
    SELECT run_id, namespace, name AS pod, uid, seq, observed_at, gpu_request, object, scheduled_message,
        row_number() OVER (PARTITION BY run_id, uid ORDER BY seq) AS nth
    FROM pods
    WHERE gpu_request > 0 AND node_name IS NULL AND scheduled_status = 'False' AND scheduled_reason = 'Unschedulable'
        AND op NOT IN ('DELETED', 'DELETED_IN_GAP')
),
run_end AS (
    SELECT run_id, MAX(seq) AS seq, MAX(observed_at) AS observed_at
    FROM (
        SELECT run_id, seq, observed_at FROM nodes
        UNION ALL SELECT run_id, seq, observed_at FROM pods
        UNION ALL SELECT run_id, seq, observed_at FROM events
    ) AS all_changes
    GROUP BY run_id
),
failed_events AS (
    SELECT run_id, involved_uid, message,
        row_number() OVER (PARTITION BY run_id, involved_uid ORDER BY seq) AS nth,
        row_number() OVER (PARTITION BY run_id, involved_uid ORDER BY seq DESC) AS recency
    FROM events
    WHERE reason = 'FailedScheduling'
),
candidates AS (
    SELECT r.run_id, r.namespace, r.pod, r.uid, 'first refusal' AS moment, r.seq, r.observed_at, r.gpu_request,
        r.object, COALESCE(r.scheduled_message, f.message) AS message
    FROM refusals AS r
    LEFT JOIN failed_events AS f ON f.run_id = r.run_id AND f.involved_uid = r.uid AND f.nth = 1
    WHERE r.nth = 1
    UNION ALL
    SELECT p.run_id, p.namespace, p.name, p.uid, 'end', e.seq, e.observed_at, p.gpu_request, p.object,
        COALESCE(p.scheduled_message, f.message)
    FROM pods_latest AS p
    JOIN refusals AS r ON r.run_id = p.run_id AND r.uid = p.uid AND r.nth = 1
    JOIN run_end AS e ON e.run_id = p.run_id
    LEFT JOIN failed_events AS f ON f.run_id = p.run_id AND f.involved_uid = p.uid AND f.recency = 1
    WHERE p.phase = 'Pending' AND p.node_name IS NULL AND p.gpu_request > 0
),
fits AS (
    SELECT c.run_id, c.uid, c.moment, n.node, n.allocatable,
        n.allocatable - COALESCE(a.gpus, 0) AS free,
        node_admits(c.object, n.object) AS eligible
    FROM candidates AS c
    JOIN node_versions AS n
        ON n.run_id = c.run_id AND n.seq <= c.seq AND (n.until_seq IS NULL OR n.until_seq > c.seq)
        AND n.op NOT IN ('DELETED', 'DELETED_IN_GAP') AND n.allocatable > 0
    LEFT JOIN allocated AS a
        ON a.run_id = n.run_id AND a.node = n.node AND a.seq <= c.seq AND (a.until_seq IS NULL OR a.until_seq > c.seq)
),
figures AS (
    SELECT run_id, uid, moment,
        COUNT(CASE WHEN allocatable > 0 THEN 1 END) AS gpu_nodes,
        COUNT(CASE WHEN eligible AND allocatable > 0 THEN 1 END) AS eligible_gpu_nodes,
        MAX(CASE WHEN eligible AND allocatable > 0 THEN allocatable END) AS largest_eligible_allocatable,
        COALESCE(SUM(CASE WHEN allocatable > 0 THEN GREATEST(free, 0) END), 0) AS fleet_free,
        COALESCE(SUM(CASE WHEN eligible AND allocatable > 0 THEN GREATEST(free, 0) END), 0) AS eligible_free,
        COALESCE(MAX(CASE WHEN eligible AND allocatable > 0 THEN GREATEST(free, 0) END), 0) AS largest_eligible_free_block
    FROM fits
    GROUP BY run_id, uid, moment
)
SELECT
    c.run_id,
    c.namespace,
    c.pod,
    c.moment,
    c.seq,
    c.observed_at,
    CASE
        WHEN COALESCE(f.eligible_gpu_nodes, 0) = 0 AND COALESCE(f.gpu_nodes, 0) > 0 THEN 'constraint'
        WHEN COALESCE(f.eligible_gpu_nodes, 0) = 0 THEN 'capacity'
        WHEN c.gpu_request > f.largest_eligible_allocatable THEN 'shape'
        WHEN f.eligible_free < c.gpu_request THEN 'capacity'
        WHEN f.largest_eligible_free_block < c.gpu_request THEN 'fragmentation'
    END AS class,
    c.gpu_request AS gpus_requested,
    f.largest_eligible_allocatable,
    COALESCE(f.fleet_free, 0) AS fleet_free,
    COALESCE(f.eligible_free, 0) AS eligible_free,
    COALESCE(f.largest_eligible_free_block, 0) AS largest_eligible_free_block,
    COALESCE(f.eligible_gpu_nodes, 0) AS eligible_gpu_nodes,
    COALESCE(f.gpu_nodes, 0) AS gpu_nodes,
    c.message AS scheduler_message
FROM candidates AS c
LEFT JOIN figures AS f ON f.run_id = c.run_id AND f.uid = c.uid AND f.moment = c.moment
ORDER BY c.run_id, c.namespace, c.pod, c.seq;
