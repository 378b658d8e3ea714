-- GPU metrics per node, GPU and pod: DCGM samples, first and last scrape, average and peak utilisation, peak framebuffer used and free.
--
-- From the `metrics` table (`evident record --metrics <url>`), on the recorder's scrape clock
-- (scraped_at). One row per GPU and the pod the exporter attributed it to (a GPU that changed
-- hands during the run has one row per pod, and one with pod NULL while it was free).
-- Utilisation is DCGM_FI_DEV_GPU_UTIL in %, framebuffer DCGM_FI_DEV_FB_USED / _FB_FREE in MiB;
-- samples counts the utilisation samples. Metrics of GPUs on KWOK nodes are synthetic: the
-- report says so.
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
FROM metrics
WHERE metric IN ('DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_FB_USED', 'DCGM_FI_DEV_FB_FREE')
    AND (gpu IS NOT NULL OR uuid IS NOT NULL)
GROUP BY run_id, node, gpu, uuid, model, namespace, pod
ORDER BY run_id, node, TRY_CAST(gpu AS BIGINT), gpu, uuid, namespace, pod;
