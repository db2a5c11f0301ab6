-- clientmail schema, version 2: integrity under faults (SPEC R2, R5, H1).

-- H1's subject rule: one entry per (normalised subject, external participant) key of a message,
-- with its date and whether its headers carry no reply chain (open). Found by key within a window.
CREATE TABLE thread_subjects (
  firm_id   text NOT NULL,
  key       text NOT NULL,
  at        timestamptz NOT NULL,
  open      boolean NOT NULL,
  thread_id text NOT NULL,
  FOREIGN KEY (firm_id, thread_id) REFERENCES threads (firm_id, id)
);
CREATE INDEX thread_subjects_key_idx ON thread_subjects (firm_id, key, at);
CREATE INDEX thread_subjects_thread_idx ON thread_subjects (firm_id, thread_id);

-- The subject keys of version 1 lived in thread_keys and linked a message to one thread per key,
-- which made threads depend on arrival order; the index above replaces them.
DELETE FROM thread_keys WHERE key LIKE 'subj-u:%' OR key LIKE 'subj-l:%';

-- R5: a Message-ID is a claim, not an identity; copies are matched by it plus a fingerprint.
CREATE INDEX messages_message_id_idx ON messages (firm_id, message_id) WHERE message_id IS NOT NULL;

-- R11: where the original source is kept (BlobStore key), and whether the text had to be recovered
-- from a broken MIME structure.
ALTER TABLE messages ADD COLUMN source_key text;
ALTER TABLE messages ADD COLUMN degraded boolean NOT NULL DEFAULT false;

-- R1, R2: the latest completeness audit of a mailbox.
ALTER TABLE mailboxes ADD COLUMN verification jsonb;

-- R2: client messages set aside because they failed on their own; retried with backoff.
CREATE TABLE quarantine (
  firm_id          text NOT NULL,
  mailbox_id       text NOT NULL,
  provider_id      text NOT NULL,
  reason           text NOT NULL CHECK (reason IN ('unparseable', 'too_large', 'server_refused', 'unstorable')),
  detail           text NOT NULL,
  attempts         integer NOT NULL CHECK (attempts > 0),
  first_attempt_at timestamptz NOT NULL,
  last_attempt_at  timestamptz NOT NULL,
  next_attempt_at  timestamptz NOT NULL,
  PRIMARY KEY (firm_id, mailbox_id, provider_id),
  FOREIGN KEY (firm_id, mailbox_id) REFERENCES mailboxes (firm_id, id) ON DELETE CASCADE
);
CREATE INDEX quarantine_due_idx ON quarantine (firm_id, next_attempt_at);
