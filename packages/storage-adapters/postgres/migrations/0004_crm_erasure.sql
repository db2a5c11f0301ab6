-- clientmail schema, version 3: the CRM facade (SPEC T4) and erasure (SPEC R10).

-- T4: a replaced address kept as an "unlinked email" until the firm turns its login off.
ALTER TABLE links ADD COLUMN unlinked_at timestamptz;

-- R10: tombstones of erased contacts' addresses: opaque hashes, never the addresses, so filing
-- can refuse their mail on every later sync.
CREATE TABLE erasure_tombstones (
  firm_id   text NOT NULL REFERENCES firms (id),
  tombstone text NOT NULL,
  at        timestamptz NOT NULL,
  PRIMARY KEY (firm_id, tombstone)
);

-- Inbox+ lists the firm's threads across accounts, newest activity first.
CREATE INDEX messages_firm_date_idx ON messages (firm_id, date DESC) WHERE removed_at IS NULL;
