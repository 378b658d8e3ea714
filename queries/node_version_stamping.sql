-- kubeletVersion stamping: when each node appeared, when its kubeletVersion was first set, in which order, and the spread from first to last stamp.
--
-- The notebook's "the VERSION column fills in one node at a time", measured. Times are the
-- recorder's receipt clock (observed_at, ns); delays are in milliseconds.
WITH appeared AS (
    SELECT run_id, uid, name, MIN(observed_at) AS appeared_at
    FROM nodes
    GROUP BY run_id, uid, name
),
first_stamp AS (
    SELECT run_id, uid, observed_at AS stamped_at, kubelet_version,
        row_number() OVER (PARTITION BY run_id, uid ORDER BY seq) AS nth
    FROM nodes
    WHERE kubelet_version IS NOT NULL
),
stamped AS (
    SELECT
        a.run_id,
        a.name,
        a.appeared_at,
        s.stamped_at,
        s.kubelet_version,
        MIN(s.stamped_at) OVER (PARTITION BY a.run_id) AS first_stamp_at,
        MAX(s.stamped_at) OVER (PARTITION BY a.run_id) AS last_stamp_at
    FROM appeared AS a
    LEFT JOIN first_stamp AS s ON s.run_id = a.run_id AND s.uid = a.uid AND s.nth = 1
)
SELECT
    run_id,
    name AS node,
    appeared_at,
    stamped_at,
    kubelet_version,
    CASE WHEN stamped_at IS NOT NULL
        THEN row_number() OVER (PARTITION BY run_id ORDER BY stamped_at NULLS LAST, name) END AS stamp_order,
    ROUND((date_part('epoch', stamped_at) - date_part('epoch', appeared_at)) * 1000, 3) AS appear_to_stamp_ms,
    ROUND((date_part('epoch', stamped_at) - date_part('epoch', first_stamp_at)) * 1000, 3) AS after_first_stamp_ms,
    ROUND((date_part('epoch', last_stamp_at) - date_part('epoch', first_stamp_at)) * 1000, 3) AS stamp_spread_ms
FROM stamped
ORDER BY run_id, stamp_order NULLS LAST, node;
