-- Why each Pending GPU pod waits, at its first refusal and at the end of the run: shape, fragmentation, capacity or constraint, with the figures that decide it and the scheduler's own message.
--
-- DuckDB variant of queries/pending_classification.sql, used by the parity test. DuckDB has no
-- node_admits(), so its rules (evident_core::placement, crates/evident-core/src/placement.rs)
-- are restated with DuckDB's JSON functions and lambdas and must stay in step with them:
--   1. every nodeSelector key is a node label with the same value;
--   2. no required node affinity, or one of its nodeSelectorTerms holds: a term with at least
--      one requirement whose matchExpressions all hold on the node's labels and whose
--      matchFields all name metadata.name and hold on the node's name (In, NotIn, Exists,
--      DoesNotExist; Gt and Lt with one integer value; any other operator fails);
--   3. a cordoned node (spec.unschedulable) needs a toleration of
--      node.kubernetes.io/unschedulable:NoSchedule;
--   4. every NoSchedule or NoExecute taint is tolerated: the toleration's effect is empty or
--      equal; an empty key with operator Exists tolerates all; else equal keys and operator
--      Exists, or Equal (the default) with equal values.
-- Everything else is the query of queries/pending_classification.sql, unchanged.
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
pod_rules AS (
    SELECT *,
        CAST(json_extract(object, '$.spec.nodeSelector') AS MAP(VARCHAR, VARCHAR)) AS selector,
        json_transform(json_extract(object, '$.spec.tolerations'),
            '[{"key": "VARCHAR", "operator": "VARCHAR", "value": "VARCHAR", "effect": "VARCHAR"}]') AS tolerations,
        json_transform(
            json_extract(object, '$.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms'),
            '[{"matchExpressions": [{"key": "VARCHAR", "operator": "VARCHAR", "values": ["VARCHAR"]}],
               "matchFields": [{"key": "VARCHAR", "operator": "VARCHAR", "values": ["VARCHAR"]}]}]') AS terms
    FROM candidates
),
node_facts AS (
    SELECT *,
        json_extract_string(object, '$.metadata.name') AS node_name,
        CAST(json_extract(object, '$.metadata.labels') AS MAP(VARCHAR, VARCHAR)) AS labels,
        json_transform(json_extract(object, '$.spec.taints'),
            '[{"key": "VARCHAR", "value": "VARCHAR", "effect": "VARCHAR"}]') AS taints,
        COALESCE(json_extract(object, '$.spec.unschedulable')::BOOLEAN, false) AS cordoned
    FROM node_versions
),
fits AS (
    SELECT c.run_id, c.uid, c.moment, n.node, n.allocatable,
        n.allocatable - COALESCE(a.gpus, 0) AS free,
        COALESCE(list_bool_and(list_transform(map_keys(c.selector),
            lambda k: n.labels[k] IS NOT NULL AND n.labels[k] = c.selector[k])), true)
        AND (c.terms IS NULL OR COALESCE(list_bool_or(list_transform(c.terms, lambda t:
            COALESCE(len(t.matchExpressions), 0) + COALESCE(len(t.matchFields), 0) > 0
            AND COALESCE(list_bool_and(list_transform(t.matchExpressions, lambda e: COALESCE(CASE e.operator
                WHEN 'In' THEN n.labels[e.key] IS NOT NULL AND list_contains(COALESCE(e.values, []), n.labels[e.key])
                WHEN 'NotIn' THEN n.labels[e.key] IS NULL OR NOT list_contains(COALESCE(e.values, []), n.labels[e.key])
                WHEN 'Exists' THEN n.labels[e.key] IS NOT NULL
                WHEN 'DoesNotExist' THEN n.labels[e.key] IS NULL
                WHEN 'Gt' THEN len(e.values) = 1
                    AND TRY_CAST(trim(n.labels[e.key]) AS BIGINT) > TRY_CAST(trim(e.values[1]) AS BIGINT)
                WHEN 'Lt' THEN len(e.values) = 1
                    AND TRY_CAST(trim(n.labels[e.key]) AS BIGINT) < TRY_CAST(trim(e.values[1]) AS BIGINT)
                ELSE false END, false))), true)
            AND COALESCE(list_bool_and(list_transform(t.matchFields, lambda e: e.key = 'metadata.name' AND COALESCE(CASE e.operator
                WHEN 'In' THEN list_contains(COALESCE(e.values, []), n.node_name)
                WHEN 'NotIn' THEN NOT list_contains(COALESCE(e.values, []), n.node_name)
                WHEN 'Exists' THEN true
                WHEN 'DoesNotExist' THEN false
                WHEN 'Gt' THEN len(e.values) = 1
                    AND TRY_CAST(trim(n.node_name) AS BIGINT) > TRY_CAST(trim(e.values[1]) AS BIGINT)
                WHEN 'Lt' THEN len(e.values) = 1
                    AND TRY_CAST(trim(n.node_name) AS BIGINT) < TRY_CAST(trim(e.values[1]) AS BIGINT)
                ELSE false END, false))), true)
        )), false))
        AND (NOT n.cordoned OR COALESCE(list_bool_or(list_transform(c.tolerations, lambda o:
            (COALESCE(o.effect, '') IN ('', 'NoSchedule'))
            AND CASE WHEN COALESCE(o.key, '') = '' THEN COALESCE(NULLIF(o.operator, ''), 'Equal') = 'Exists'
                ELSE o.key = 'node.kubernetes.io/unschedulable'
                    AND CASE COALESCE(NULLIF(o.operator, ''), 'Equal')
                        WHEN 'Exists' THEN true WHEN 'Equal' THEN COALESCE(o.value, '') = '' ELSE false END
                END)), false))
        AND COALESCE(list_bool_and(list_transform(n.taints, lambda x:
            COALESCE(x.effect, '') NOT IN ('NoSchedule', 'NoExecute')
            OR COALESCE(list_bool_or(list_transform(c.tolerations, lambda o:
                (COALESCE(o.effect, '') = '' OR o.effect = x.effect)
                AND CASE WHEN COALESCE(o.key, '') = '' THEN COALESCE(NULLIF(o.operator, ''), 'Equal') = 'Exists'
                    ELSE o.key = COALESCE(x.key, '')
                        AND CASE COALESCE(NULLIF(o.operator, ''), 'Equal')
                            WHEN 'Exists' THEN true WHEN 'Equal' THEN COALESCE(o.value, '') = COALESCE(x.value, '')
                            ELSE false END
                    END)), false))), true) AS eligible
    FROM pod_rules AS c
    JOIN node_facts AS n
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
