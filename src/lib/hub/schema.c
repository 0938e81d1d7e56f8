/*
 * The hub's database schema. Each entry is one migration, applied once in
 * its own transaction by cs_store_migrate; never edit a released entry, add
 * a new one.
 */
#include <stddef.h>
#include "hub/hub_internal.h"

const char *const cs__hub_schema[] = {
	/* 1: the registry, tokens, folders, jobs, tasks, history, blobs */
	"CREATE TABLE devices ("
	"  device_id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  address TEXT NOT NULL DEFAULT '',"
	"  cert_pem TEXT NOT NULL,"
	"  fingerprint TEXT NOT NULL UNIQUE,"
	"  serial TEXT NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','revoked')),"
	"  revoked_at INTEGER,"
	"  created INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL DEFAULT 0);"
	/* every serial ever revoked stays in the CRL, even after a re-issue */
	"CREATE TABLE revoked_serials ("
	"  serial TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL);"
	"CREATE TABLE admins ("
	"  fingerprint TEXT PRIMARY KEY, name TEXT NOT NULL, created INTEGER NOT NULL);"
	"CREATE TABLE tokens ("
	"  hash TEXT PRIMARY KEY,"      /* hex SHA-256 of the secret */
	"  uses_left INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE folders ("
	"  folder TEXT NOT NULL,"
	"  device_id TEXT NOT NULL REFERENCES devices(device_id),"
	"  PRIMARY KEY (folder, device_id));"
	"CREATE INDEX folders_device ON folders(device_id);"
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  folder TEXT NOT NULL,"
	"  source TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('producing','delivering','done','failed')),"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  to_seq INTEGER NOT NULL DEFAULT 0,"
	"  records INTEGER NOT NULL DEFAULT 0,"
	"  packs INTEGER NOT NULL DEFAULT 0,"
	"  bytes INTEGER NOT NULL DEFAULT 0,"
	"  files INTEGER NOT NULL DEFAULT 0,"
	"  bytes_uploaded INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX jobs_state ON jobs(state);"
	"CREATE TABLE job_dests ("
	"  job INTEGER NOT NULL REFERENCES jobs(id),"
	"  device TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('queued','sending','applied','failed')),"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  history INTEGER NOT NULL DEFAULT 0,"
	"  files_done INTEGER NOT NULL DEFAULT 0,"
	"  files_total INTEGER NOT NULL DEFAULT 0,"
	"  bytes_done INTEGER NOT NULL DEFAULT 0,"
	"  bytes_total INTEGER NOT NULL DEFAULT 0,"
	"  updated INTEGER NOT NULL,"
	"  PRIMARY KEY (job, device));"
	"CREATE INDEX job_dests_device ON job_dests(device, state);"
	"CREATE TABLE history ("
	"  folder TEXT NOT NULL, source TEXT NOT NULL, dest TEXT NOT NULL,"
	"  seq INTEGER NOT NULL, updated INTEGER NOT NULL,"
	"  PRIMARY KEY (folder, source, dest));"
	"CREATE TABLE tasks ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  device TEXT NOT NULL,"
	"  job INTEGER NOT NULL REFERENCES jobs(id),"
	"  type TEXT NOT NULL CHECK (type IN ('produce','apply')),"
	"  payload TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('queued','delivered','done')),"
	"  created INTEGER NOT NULL,"
	"  delivered_at INTEGER);"
	"CREATE INDEX tasks_device ON tasks(device, state);"
	"CREATE INDEX tasks_job ON tasks(job);"
	"CREATE TABLE blobs ("
	"  job INTEGER NOT NULL REFERENCES jobs(id),"
	"  name TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  records INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (job, name));"
	/* registration way 3: discovered devices awaiting the operator */
	"CREATE TABLE pending ("
	"  id TEXT PRIMARY KEY,"
	"  address TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  device_id TEXT NOT NULL,"
	"  csr TEXT NOT NULL,"
	"  fingerprint TEXT NOT NULL,"
	"  cert_pem TEXT,"
	"  created INTEGER NOT NULL);",
	/* 2: the web console's users and sessions (PROTOCOL.md §10) */
	"CREATE TABLE console_users ("
	"  name TEXT PRIMARY KEY,"
	"  hash TEXT NOT NULL,"            /* argon2id, PHC string form */
	"  updated INTEGER NOT NULL);"
	"CREATE TABLE console_sessions ("
	"  token_hash TEXT PRIMARY KEY,"   /* hex SHA-256 of the cookie's token */
	"  csrf TEXT NOT NULL,"            /* handed to the page; not a login secret */
	"  user_name TEXT NOT NULL REFERENCES console_users(name) ON DELETE CASCADE,"
	"  created_ms INTEGER NOT NULL,"
	"  last_used_ms INTEGER NOT NULL,"
	"  remote TEXT NOT NULL);"
	"CREATE INDEX console_sessions_user ON console_sessions(user_name);",
	/* 3: destinations may start while the source still uploads packs:
	 * 0 between "ready" and "produced", 1 otherwise */
	"ALTER TABLE jobs ADD COLUMN uploaded INTEGER NOT NULL DEFAULT 1;",
	/* 4: account sync (PROTOCOL.md §11): accounts with their SCRAM
	 * verifiers, token keys, the secret behind unknown accounts' salts,
	 * failed logins by name, and the accounts' versioned records */
	"CREATE TABLE accounts ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"  /* never reused: tokens name it */
	"  name TEXT NOT NULL UNIQUE,"
	"  salt BLOB NOT NULL CHECK (length(salt) = 16),"
	"  t_cost INTEGER NOT NULL,"
	"  m_kib INTEGER NOT NULL,"
	"  stored_key BLOB NOT NULL CHECK (length(stored_key) = 32),"
	"  server_key BLOB NOT NULL CHECK (length(server_key) = 32),"
	"  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL);"
	"CREATE TABLE account_keys ("
	"  kid INTEGER PRIMARY KEY AUTOINCREMENT CHECK (kid BETWEEN 1 AND 4294967295),"
	"  key BLOB NOT NULL CHECK (length(key) = 32),"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE account_secrets ("
	"  name TEXT PRIMARY KEY,"
	"  value BLOB NOT NULL);"
	"CREATE TABLE account_login_failures ("
	"  name TEXT PRIMARY KEY,"          /* as sent: unknown names count too */
	"  failures INTEGER NOT NULL,"
	"  last_ms INTEGER NOT NULL);"
	"CREATE TABLE account_collections ("
	"  account INTEGER NOT NULL REFERENCES accounts(id),"
	"  name TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"       /* the last version given out */
	"  PRIMARY KEY (account, name));"
	"CREATE TABLE account_records ("
	"  account INTEGER NOT NULL,"
	"  collection TEXT NOT NULL,"
	"  id TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  deleted INTEGER NOT NULL CHECK (deleted IN (0, 1)),"
	"  payload BLOB,"                   /* NULL for a deletion */
	"  PRIMARY KEY (account, collection, id),"
	"  FOREIGN KEY (account, collection) REFERENCES account_collections(account, name));"
	"CREATE UNIQUE INDEX account_records_version ON account_records(account, collection, version);",
	/* 5: one-time pairings of backup terminals (PROTOCOL.md §12.1) */
	"CREATE TABLE account_pairings ("
	"  id TEXT PRIMARY KEY,"
	"  account INTEGER NOT NULL REFERENCES accounts(id),"
	"  terminal TEXT NOT NULL,"          /* the terminal's device ID */
	"  fingerprint TEXT NOT NULL,"       /* hex SHA-256 of its certificate */
	"  secret_hash BLOB NOT NULL,"       /* SHA-256 of the one-time secret */
	"  created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  claimed_by TEXT,"                 /* the device that used it */
	"  claimed_at INTEGER);",
	/* 6: offline transfer (PROTOCOL.md §13.8): the accounts' online
	 * balances, what the hub issued, and the ledger of every voucher and
	 * link it has seen, with each branch's holder and spender */
	"ALTER TABLE accounts ADD COLUMN balance INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE wallet_credits ("
	"  id INTEGER PRIMARY KEY,"
	"  account INTEGER NOT NULL REFERENCES accounts(id),"
	"  amount INTEGER NOT NULL,"         /* negative for a double spend's charge */
	"  time INTEGER NOT NULL,"
	"  note TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE wallet_devices ("
	"  device TEXT PRIMARY KEY,"
	"  account INTEGER NOT NULL REFERENCES accounts(id),"
	"  cert BLOB NOT NULL,"              /* the latest wallet certificate, DER */
	"  counter INTEGER NOT NULL DEFAULT 0," /* highest transfer index seen */
	"  last_sync INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE wallet_device_certs ("   /* every wallet certificate issued */
	"  device TEXT NOT NULL, cert BLOB NOT NULL, not_after INTEGER NOT NULL);"
	"CREATE INDEX wallet_device_certs_device ON wallet_device_certs(device);"
	"CREATE TABLE wallet_loads ("
	"  request TEXT PRIMARY KEY,"        /* the client's id: a repeated load gets the same voucher */
	"  device TEXT NOT NULL,"
	"  account INTEGER NOT NULL,"
	"  amount INTEGER NOT NULL,"
	"  voucher BLOB NOT NULL,"
	"  time INTEGER NOT NULL);"
	"CREATE TABLE wallet_nodes ("          /* vouchers (kind 0) and links (kind 1) */
	"  id BLOB PRIMARY KEY,"
	"  kind INTEGER NOT NULL,"
	"  prev BLOB,"                       /* links: the element before */
	"  side INTEGER,"                    /* links: the branch of prev spent */
	"  payer TEXT,"                      /* links */
	"  payee TEXT NOT NULL,"             /* links: the payee; vouchers: the owner */
	"  amount INTEGER NOT NULL,"         /* links: to the payee; vouchers: the value */
	"  change INTEGER NOT NULL DEFAULT 0,"
	"  counter INTEGER NOT NULL DEFAULT 0,"
	"  time INTEGER NOT NULL,"           /* links: ms; vouchers: s */
	"  transfer BLOB,"
	"  body BLOB NOT NULL,"
	"  sig BLOB NOT NULL,"
	"  seen INTEGER NOT NULL);"
	"CREATE TABLE wallet_branches ("
	"  state BLOB PRIMARY KEY,"          /* SHA-256(\"state\" || node || side) */
	"  node BLOB NOT NULL,"
	"  side INTEGER NOT NULL,"
	"  holder TEXT NOT NULL,"
	"  value INTEGER NOT NULL,"
	"  spent_by BLOB);"                  /* the first link seen spending it */
	"CREATE INDEX wallet_branches_holder ON wallet_branches(holder, spent_by);"
	"CREATE TABLE wallet_conflicts ("
	"  id INTEGER PRIMARY KEY,"
	"  state BLOB NOT NULL,"             /* the branch spent twice */
	"  payer TEXT NOT NULL,"
	"  first BLOB NOT NULL,"             /* the link seen first */
	"  second BLOB NOT NULL,"            /* a later link spending the same branch */
	"  value INTEGER NOT NULL,"          /* the branch's value, charged to the payer's account */
	"  account INTEGER,"
	"  time INTEGER NOT NULL,"
	"  UNIQUE (state, second));",
};

const size_t cs__hub_schema_count = sizeof(cs__hub_schema) / sizeof(cs__hub_schema[0]);
