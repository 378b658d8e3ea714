-- Replicas by phase per owning workload at the end of the run (queue-pressure: 31 Running, 9 Pending).
--
-- workload is the Deployment for ReplicaSet-owned pods, the owner for other controllers, the
-- pod itself for a bare pod. GPU sums count requested nvidia.com/gpu.
SELECT
    run_id,
    namespace,
    workload,
    COUNT(*) AS replicas,
    COUNT(CASE WHEN phase = 'Running' THEN 1 END) AS running,
    COUNT(CASE WHEN phase = 'Pending' THEN 1 END) AS pending,
    COALESCE(SUM(gpu_request), 0) AS gpus_requested,
    COALESCE(SUM(CASE WHEN phase = 'Running' THEN gpu_request END), 0) AS gpus_running
FROM pods_latest
GROUP BY run_id, namespace, workload
ORDER BY run_id, namespace, workload;
