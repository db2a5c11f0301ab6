-- clientmail schema, version 1.
-- Every table starts with firm_id, and every key and index starts with firm_id: no query can reach
-- a row without naming its firm, and the schema can be distributed by firm without changes.
-- Ids are opaque text chosen by the adapter.

CREATE TABLE firms (
  id               text PRIMARY KEY,
  name             text NOT NULL,
  internal_domains text[] NOT NULL,
  deletion_mode    text NOT NULL CHECK (deletion_mode IN ('mirror', 'retain')),
  created_at       timestamptz NOT NULL
);

CREATE TABLE members (
  firm_id                text NOT NULL REFERENCES firms (id),
  id                     text NOT NULL,
  name                   text NOT NULL,
  email                  text NOT NULL,
  role                   text NOT NULL,
  new_mail_notifications text NOT NULL,
  time_zone              text NOT NULL,
  PRIMARY KEY (firm_id, id),
  CONSTRAINT members_email_key UNIQUE (firm_id, email)
);

CREATE TABLE mailboxes (
  firm_id         text NOT NULL REFERENCES firms (id),
  id              text NOT NULL,
  provider        text NOT NULL,
  address         text NOT NULL,
  display_name    text NOT NULL,
  owner_member_id text NOT NULL,
  settings        jsonb NOT NULL,
  state           jsonb NOT NULL,
  last_synced_at  timestamptz,
  -- Keyring ciphertext only; the adapter never sees plaintext credentials.
  credentials     text,
  PRIMARY KEY (firm_id, id),
  CONSTRAINT mailboxes_address_key UNIQUE (firm_id, address),
  CONSTRAINT mailboxes_owner_fkey FOREIGN KEY (firm_id, owner_member_id) REFERENCES members (firm_id, id)
);

CREATE TABLE mailbox_connections (
  firm_id      text NOT NULL,
  mailbox_id   text NOT NULL,
  member_id    text NOT NULL,
  connected_at timestamptz NOT NULL,
  PRIMARY KEY (firm_id, mailbox_id, member_id),
  FOREIGN KEY (firm_id, mailbox_id) REFERENCES mailboxes (firm_id, id) ON DELETE CASCADE,
  CONSTRAINT mailbox_connections_member_fkey FOREIGN KEY (firm_id, member_id) REFERENCES members (firm_id, id)
);

-- The sync lease and cursor of a mailbox. token only grows: it is the fencing token.
CREATE TABLE mailbox_sync (
  firm_id     text NOT NULL,
  mailbox_id  text NOT NULL,
  holder      text,
  token       bigint NOT NULL,
  lease_until timestamptz NOT NULL,
  cursor      text,
  PRIMARY KEY (firm_id, mailbox_id),
  FOREIGN KEY (firm_id, mailbox_id) REFERENCES mailboxes (firm_id, id) ON DELETE CASCADE
);

CREATE TABLE accounts (
  firm_id    text NOT NULL REFERENCES firms (id),
  id         text NOT NULL,
  name       text NOT NULL,
  kind       text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (firm_id, id)
);

CREATE TABLE contacts (
  firm_id    text NOT NULL REFERENCES firms (id),
  id         text NOT NULL,
  first_name text NOT NULL,
  last_name  text NOT NULL,
  PRIMARY KEY (firm_id, id)
);

CREATE TABLE links (
  firm_id            text NOT NULL,
  id                 text NOT NULL,
  account_id         text NOT NULL,
  contact_id         text NOT NULL,
  email              text NOT NULL,
  login              boolean NOT NULL,
  notify             boolean NOT NULL,
  email_sync         boolean NOT NULL,
  signatory          boolean NOT NULL,
  notify_preferences jsonb NOT NULL,
  invitation         jsonb,
  invitation_token   text GENERATED ALWAYS AS (invitation ->> 'token') STORED,
  PRIMARY KEY (firm_id, id),
  CONSTRAINT links_triple_key UNIQUE (firm_id, account_id, contact_id, email),
  CONSTRAINT links_account_fkey FOREIGN KEY (firm_id, account_id) REFERENCES accounts (firm_id, id) ON DELETE CASCADE,
  CONSTRAINT links_contact_fkey FOREIGN KEY (firm_id, contact_id) REFERENCES contacts (firm_id, id)
);
CREATE INDEX links_email_idx ON links (firm_id, email);
CREATE INDEX links_contact_idx ON links (firm_id, contact_id);
CREATE INDEX links_invitation_idx ON links (firm_id, invitation_token) WHERE invitation_token IS NOT NULL;

CREATE TABLE threads (
  firm_id    text NOT NULL REFERENCES firms (id),
  id         text NOT NULL,
  PRIMARY KEY (firm_id, id)
);

CREATE TABLE thread_keys (
  firm_id   text NOT NULL,
  key       text NOT NULL,
  thread_id text NOT NULL,
  PRIMARY KEY (firm_id, key),
  FOREIGN KEY (firm_id, thread_id) REFERENCES threads (firm_id, id)
);
CREATE INDEX thread_keys_thread_idx ON thread_keys (firm_id, thread_id);

CREATE TABLE thread_mutes (
  firm_id   text NOT NULL,
  thread_id text NOT NULL,
  member_id text NOT NULL,
  PRIMARY KEY (firm_id, thread_id, member_id),
  FOREIGN KEY (firm_id, thread_id) REFERENCES threads (firm_id, id),
  FOREIGN KEY (firm_id, member_id) REFERENCES members (firm_id, id)
);

-- One row per message per firm (F5): (firm_id, dedupe_key) is the identity that makes filing
-- idempotent.
CREATE TABLE messages (
  firm_id     text NOT NULL,
  id          text NOT NULL,
  dedupe_key  text NOT NULL,
  message_id  text,
  in_reply_to jsonb NOT NULL,
  refs        jsonb NOT NULL,
  from_addrs  jsonb NOT NULL,
  sender      jsonb NOT NULL,
  reply_to    jsonb NOT NULL,
  to_addrs    jsonb NOT NULL,
  cc          jsonb NOT NULL,
  bcc         jsonb NOT NULL,
  subject     text NOT NULL,
  date        timestamptz NOT NULL,
  direction   text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  text_body   text,
  html_body   text,
  attachments jsonb NOT NULL,
  thread_id   text NOT NULL,
  removed_at  timestamptz,
  filed_at    timestamptz NOT NULL,
  PRIMARY KEY (firm_id, id),
  CONSTRAINT messages_dedupe_key UNIQUE (firm_id, dedupe_key),
  FOREIGN KEY (firm_id, thread_id) REFERENCES threads (firm_id, id)
);
CREATE INDEX messages_thread_idx ON messages (firm_id, thread_id, date);

-- Where each message was seen: one row per copy (mailbox, provider id).
CREATE TABLE message_sightings (
  firm_id     text NOT NULL,
  mailbox_id  text NOT NULL,
  provider_id text NOT NULL,
  message_id  text NOT NULL,
  folder      text NOT NULL,
  PRIMARY KEY (firm_id, mailbox_id, provider_id),
  FOREIGN KEY (firm_id, message_id) REFERENCES messages (firm_id, id)
);
CREATE INDEX message_sightings_message_idx ON message_sightings (firm_id, message_id);

-- The accounts a message is filed in, with the links that matched (F4, F7). Kept when an account
-- or link is deleted: the message stays filed, and listing checks the links that still exist.
CREATE TABLE message_filings (
  firm_id    text NOT NULL,
  message_id text NOT NULL,
  account_id text NOT NULL,
  link_ids   text[] NOT NULL,
  PRIMARY KEY (firm_id, message_id, account_id),
  FOREIGN KEY (firm_id, message_id) REFERENCES messages (firm_id, id)
);
CREATE INDEX message_filings_account_idx ON message_filings (firm_id, account_id);

CREATE TABLE saved_attachments (
  firm_id      text NOT NULL,
  account_id   text NOT NULL,
  content_hash text NOT NULL,
  PRIMARY KEY (firm_id, account_id, content_hash),
  FOREIGN KEY (firm_id, account_id) REFERENCES accounts (firm_id, id) ON DELETE CASCADE
);

CREATE TABLE notifications (
  firm_id       text NOT NULL,
  id            text NOT NULL,
  member_id     text NOT NULL,
  kind          text NOT NULL,
  payload       jsonb NOT NULL,
  dedupe_key    text,
  created_at    timestamptz NOT NULL,
  snoozed_until timestamptz,
  dismissed_at  timestamptz,
  PRIMARY KEY (firm_id, id),
  CONSTRAINT notifications_dedupe_key UNIQUE (firm_id, member_id, dedupe_key),
  FOREIGN KEY (firm_id, member_id) REFERENCES members (firm_id, id)
);
CREATE INDEX notifications_member_idx ON notifications (firm_id, member_id, created_at DESC);

CREATE TABLE audit_entries (
  firm_id text NOT NULL REFERENCES firms (id),
  id      text NOT NULL,
  seq     bigserial NOT NULL,
  actor   text NOT NULL,
  action  text NOT NULL,
  subject text,
  details jsonb NOT NULL,
  at      timestamptz NOT NULL,
  PRIMARY KEY (firm_id, id)
);
CREATE INDEX audit_entries_at_idx ON audit_entries (firm_id, at DESC, seq DESC);

CREATE TABLE outbox (
  firm_id     text NOT NULL,
  id          text NOT NULL,
  mailbox_id  text NOT NULL,
  actor       jsonb NOT NULL,
  account_ids text[] NOT NULL,
  thread_id   text,
  draft       jsonb NOT NULL,
  send_at     timestamptz NOT NULL,
  state       text NOT NULL CHECK (state IN ('scheduled', 'submitting', 'sent', 'failed', 'cancelled')),
  attempts    integer NOT NULL,
  claimed_by  text,
  sent_at     timestamptz,
  message_id  text,
  last_error  text,
  created_at  timestamptz NOT NULL,
  PRIMARY KEY (firm_id, id),
  FOREIGN KEY (firm_id, mailbox_id) REFERENCES mailboxes (firm_id, id)
);
CREATE INDEX outbox_due_idx ON outbox (firm_id, state, send_at);
