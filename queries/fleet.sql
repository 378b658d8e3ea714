-- Simulated fleet: each node's pool, allocatable GPUs and taints at the end of the run, with the fleet's total.
--
-- The notebook's "Simulated fleet" table and "Total: 32 GPUs". Nodes without GPUs (the
-- control-plane and worker stand-ins) are listed with 0, as the notebook notes them. Taints
-- (`key=value:Effect`, NULL when none) decide which pods a node takes, so the table shows them;
-- they come last so the columns before keep their places.
SELECT
    run_id,
    name AS node,
    pool,
    COALESCE(gpu_allocatable, 0) AS gpus,
    SUM(COALESCE(gpu_allocatable, 0)) OVER (PARTITION BY run_id) AS fleet_gpus,
    taints
FROM nodes_latest
ORDER BY run_id, node;
