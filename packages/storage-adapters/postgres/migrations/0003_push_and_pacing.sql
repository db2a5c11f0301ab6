-- clientmail schema, version 3: push registrations renewed by jobs (Y2) and pacing shared by every
-- worker process (Gmail per-user quota, Graph concurrent requests per mailbox).

-- Y2: a mailbox's push registrations at its provider; the secret the provider echoes is kept
-- only as a SHA-256.
CREATE TABLE push_registrations (
  firm_id         text NOT NULL,
  subscription_id text NOT NULL,
  mailbox_id      text NOT NULL,
  provider        text NOT NULL CHECK (provider IN ('gmail', 'graph')),
  resource        text NOT NULL,
  secret_hash     text NOT NULL,
  expires_at      timestamptz NOT NULL,
  PRIMARY KEY (firm_id, subscription_id),
  FOREIGN KEY (firm_id, mailbox_id) REFERENCES mailboxes (firm_id, id) ON DELETE CASCADE
);
CREATE INDEX push_registrations_mailbox_idx ON push_registrations (firm_id, mailbox_id);

-- Rate budgets: units spent per (firm, key), pruned as they leave the window.
CREATE UNLOGGED TABLE pacing_spends (
  firm_id text NOT NULL,
  key     text NOT NULL,
  at      timestamptz NOT NULL,
  units   integer NOT NULL CHECK (units > 0)
);
CREATE INDEX pacing_spends_key_idx ON pacing_spends (firm_id, key, at);

-- Concurrency slots: held until released or expired (a dead process's slots come back).
CREATE UNLOGGED TABLE pacing_slots (
  firm_id    text NOT NULL,
  key        text NOT NULL,
  slot_id    text NOT NULL,
  weight     integer NOT NULL CHECK (weight > 0),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (firm_id, key, slot_id)
);
