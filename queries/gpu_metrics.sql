-- GPU metrics per node, GPU and pod: DCGM samples, first and last scrape, average and peak utilisation, peak framebuffer used and free, and the node and phase the API server gives the pod.
--
-- From the `metrics` table (`evident record --metrics <url>`), on the recorder's scrape clock
-- (scraped_at). One row per GPU and the pod the exporter attributed it to (a GPU that changed
-- hands during the run has one row per pod, and one with pod NULL while it was free).
-- Utilisation is DCGM_FI_DEV_GPU_UTIL in %, framebuffer DCGM_FI_DEV_FB_USED / _FB_FREE in MiB;
-- samples counts the utilisation samples. Metrics of GPUs on KWOK nodes are synthetic: the
-- report says so.
--
-- Which GPU a pod holds is the fake-gpu-operator's allocation: its status updater assigns GPUs
-- to each pod bound to a node and its status exporter labels those GPUs' series with the pod.
-- pod_node and pod_phase are the pod's spec.nodeName and phase at the end of the recording
-- (pods_latest), from the API server: pod_node equals node when the operator's allocation and
-- the scheduler's binding agree; both are NULL for a free GPU, or a pod deleted by the end of the
-- recording.
--
-- Series the recording contradicts are left out. The KWOK status exporter of fake-gpu-operator
-- v0.2.0 never deletes a GPU's series when the GPU changes hands (only when its node is
-- deleted), so it goes on serving, unchanged, the series of pods that no longer hold the GPU,
-- and a GPU's free series after a pod took it (hack/gpu-operator.sh restart-exporter clears
-- them; make demo does it before recording). A pod's series is left out when the recording saw
-- that pod but never bound to that node; a free series is left out at a scrape where a pod
-- series of the same GPU is kept. Series of pods the recording never saw (another namespace,
-- another exporter) are kept: nothing contradicts them.
WITH recorded_pods AS (
    SELECT DISTINCT run_id, namespace, name FROM pods
),
bound_pods AS (
    SELECT DISTINCT run_id, namespace, name, node_name FROM pods WHERE node_name IS NOT NULL
),
dcgm AS (
    SELECT m.run_id, m.scrape_seq, m.scraped_at, m.node, m.gpu, m.uuid, m.model, m.namespace, m.pod,
        m.metric, m.value,
        m.pod IS NOT NULL AND (r.name IS NULL OR b.name IS NOT NULL) AS pod_kept
    FROM metrics AS m
    LEFT JOIN recorded_pods AS r ON r.run_id = m.run_id AND r.namespace = m.namespace AND r.name = m.pod
    LEFT JOIN bound_pods AS b
        ON b.run_id = m.run_id AND b.namespace = m.namespace AND b.name = m.pod AND b.node_name = m.node
    WHERE m.metric IN ('DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_FB_USED', 'DCGM_FI_DEV_FB_FREE')
        AND (m.gpu IS NOT NULL OR m.uuid IS NOT NULL)
),
current_series AS (
    SELECT *,
        SUM(CASE WHEN pod_kept THEN 1 ELSE 0 END)
            OVER (PARTITION BY run_id, scrape_seq, node, gpu, uuid, metric) AS pod_series
    FROM dcgm
),
per_gpu AS (
    SELECT
        run_id,
        node,
        gpu,
        uuid,
        model,
        namespace,
        pod,
        COUNT(CASE WHEN metric = 'DCGM_FI_DEV_GPU_UTIL' THEN 1 END) AS samples,
        MIN(scraped_at) AS first_scrape,
        MAX(scraped_at) AS last_scrape,
        AVG(CASE WHEN metric = 'DCGM_FI_DEV_GPU_UTIL' THEN value END) AS avg_gpu_util,
        MAX(CASE WHEN metric = 'DCGM_FI_DEV_GPU_UTIL' THEN value END) AS max_gpu_util,
        MAX(CASE WHEN metric = 'DCGM_FI_DEV_FB_USED' THEN value END) AS max_fb_used_mib,
        MAX(CASE WHEN metric = 'DCGM_FI_DEV_FB_FREE' THEN value END) AS max_fb_free_mib
    FROM current_series
    WHERE pod_kept OR (pod IS NULL AND pod_series = 0)
    GROUP BY run_id, node, gpu, uuid, model, namespace, pod
)
SELECT
    g.run_id,
    g.node,
    g.gpu,
    g.uuid,
    g.model,
    g.namespace,
    g.pod,
    g.samples,
    g.first_scrape,
    g.last_scrape,
    g.avg_gpu_util,
    g.max_gpu_util,
    g.max_fb_used_mib,
    g.max_fb_free_mib,
    p.node_name AS pod_node,
    p.phase AS pod_phase
FROM per_gpu AS g
LEFT JOIN pods_latest AS p ON p.run_id = g.run_id AND p.namespace = g.namespace AND p.name = g.pod
ORDER BY g.run_id, g.node, TRY_CAST(g.gpu AS BIGINT), g.gpu, g.uuid, g.namespace, g.pod;
