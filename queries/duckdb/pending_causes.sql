-- Pending root causes: each Pending pod's FailedScheduling message split into (reason, node count), preemption verdict kept as text.
--
-- DuckDB variant of queries/pending_causes.sql, used by the parity test. DuckDB has no
-- scheduling_reasons(), so the split is restated with string functions; the rules are those
-- of crates/evident-query/src/failed_scheduling.rs and must stay in step with it:
--   1. drop the Event truncation marker ' ...' at the end;
--   2. keep what precedes 'preemption: ' and, in it, what follows 'nodes are available: ';
--   3. trim trailing spaces, commas and dots;
--   4. only the first sentence (up to the first '. ') holds reasons: the per-node histogram or the
--      PreFilter message; later sentences are PostFilter messages (DRA's 'no new claims to
--      deallocate'), not reasons;
--   5. a first sentence starting with '<count> ' is split at every ', ' followed by '<count> ' (a
--      ', ' inside a reason, as in the 1.21 taint wording, is not a split); any other first
--      sentence is one reason;
--   6. '<count> <reason>' gives (reason, count); any other item is a reason without a count.
-- Dialect differences forcing this file: no UDF; DuckDB's RE2 has no look-ahead, so rule 4
-- replaces separators by chr(31) and splits on it; regexp_extract instead of regexp_match.
WITH latest_failed_event AS (
    SELECT
        run_id,
        involved_uid,
        message,
        row_number() OVER (PARTITION BY run_id, involved_uid ORDER BY seq DESC) AS recency
    FROM events
    WHERE reason = 'FailedScheduling'
),
pending AS (
    SELECT
        p.run_id,
        p.namespace,
        p.name AS pod,
        CASE WHEN p.scheduled_message IS NOT NULL THEN 'pod condition' ELSE 'event' END AS message_source,
        COALESCE(p.scheduled_message, e.message) AS message
    FROM pods_latest AS p
    LEFT JOIN latest_failed_event AS e ON e.run_id = p.run_id AND e.involved_uid = p.uid AND e.recency = 1
    WHERE p.phase = 'Pending' AND COALESCE(p.scheduled_message, e.message) IS NOT NULL
),
heads AS (
    SELECT *, split_part(regexp_replace(message, ' \.\.\.$', ''), 'preemption: ', 1) AS head
    FROM pending
),
bodies AS (
    SELECT *,
        regexp_replace(
            CASE WHEN strpos(head, 'nodes are available: ') > 0
                THEN substr(head, strpos(head, 'nodes are available: ') + length('nodes are available: '))
                ELSE head END,
            '[ ,.]+$', '') AS body
    FROM heads
),
firsts AS (
    SELECT *, split_part(body, '. ', 1) AS first_sentence FROM bodies
),
items AS (
    SELECT *,
        trim(unnest(CASE WHEN regexp_matches(first_sentence, '^\d+ ')
            THEN string_split(regexp_replace(first_sentence, ', (\d+ )', chr(31) || '\1', 'g'), chr(31))
            ELSE [first_sentence] END)) AS item
    FROM firsts
)
SELECT
    run_id,
    namespace,
    pod,
    CASE WHEN regexp_matches(item, '^\d+ ') THEN regexp_extract(item, '^\d+ (.*)$', 1) ELSE item END AS reason,
    CASE WHEN regexp_matches(item, '^\d+ ') THEN CAST(regexp_extract(item, '^(\d+) ', 1) AS BIGINT) END AS nodes,
    CAST(NULLIF(regexp_extract(message, '^0/(\d+) nodes are available', 1), '') AS BIGINT) AS total_nodes,
    NULLIF(split_part(message, 'preemption: ', 2), '') AS preemption,
    message_source
FROM items
WHERE item <> ''
ORDER BY run_id, namespace, pod, reason;
