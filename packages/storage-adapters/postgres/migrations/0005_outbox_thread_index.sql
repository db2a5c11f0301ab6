-- clientmail schema, version 5: a thread merge (H3) repoints the outbox messages of the merged
-- threads; without this index it read the firm's whole outbox on every merge.
CREATE INDEX outbox_thread_idx ON outbox (firm_id, thread_id) WHERE thread_id IS NOT NULL;
