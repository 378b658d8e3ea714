-- Pods per namespace by phase at the end of the run (the notebook's "32 Running, 11 Pending in gpu-demo").
SELECT
    run_id,
    namespace,
    COUNT(CASE WHEN phase = 'Running' THEN 1 END) AS running,
    COUNT(CASE WHEN phase = 'Pending' THEN 1 END) AS pending,
    COUNT(CASE WHEN phase = 'Succeeded' THEN 1 END) AS succeeded,
    COUNT(CASE WHEN phase = 'Failed' THEN 1 END) AS failed,
    COUNT(*) AS pods
FROM pods_latest
GROUP BY run_id, namespace
ORDER BY run_id, namespace;
