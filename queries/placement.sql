-- Placement: pod -> node -> pool, when the scheduler bound it and when it was first seen Running.
--
-- Clocks: scheduled_at is the PodScheduled condition's lastTransitionTime (object clock, 1 s);
-- first_running_observed_at is when the recorder first received the pod in phase Running
-- (receipt clock, ns). Pending pods have no node. Deleted pods are not listed.
WITH first_running AS (
    SELECT run_id, uid, MIN(observed_at) AS first_running_observed_at
    FROM pods
    WHERE phase = 'Running'
    GROUP BY run_id, uid
)
SELECT
    p.run_id,
    p.namespace,
    p.name AS pod,
    p.phase,
    p.node_name AS node,
    n.pool,
    p.gpu_request AS gpus,
    p.scheduled_at,
    r.first_running_observed_at
FROM pods_latest AS p
LEFT JOIN nodes_latest AS n ON n.run_id = p.run_id AND n.name = p.node_name
LEFT JOIN first_running AS r ON r.run_id = p.run_id AND r.uid = p.uid
ORDER BY p.run_id, p.namespace, pod;
