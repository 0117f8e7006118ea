//! The PostgreSQL schema, ready for Citus: every table the SQLite backend
//! keeps (its `CREATE TABLE`s in `store/sqlite/*.rs` and core's ledger
//! tables in `core/src/store/schema.rs`), the ledger's derived tables the
//! database needs to be the authority for the refusal rules, the code
//! directory that makes trace and voucher codes unique across shards, and
//! the keys and secrets every instance shares.
//!
//! The components are SQLite's (`"server"`, `"ledger"`, `"sync"`,
//! `"field"`, …, plus `"keys"`), each at its own version line in
//! `schema_migrations`. The versions are this backend's: a PostgreSQL
//! database starts with each component's final shape at version 1, not
//! with SQLite's history (its table rebuilds and dropped tables).
//!
//! ## Types
//!
//! * **Instants the server makes or normalises** (`recorded_at`,
//!   `received_at`, `created_at`, deadlines): `timestamptz`, not SQLite's
//!   ISO text — 8 bytes instead of about 24, ordered and compared as time
//!   whatever the text's format, and read straight into `DateTime<Utc>`.
//!   Microseconds hold SQLite's milliseconds exactly.
//! * **A device's time as it sent it** (`entries.at`, `batches.received_at`,
//!   `movements.at`, `entry_checks.at`, `holds.placed_at`): `text`, the RFC
//!   3339 string with the device's own offset. It is evidence of what the
//!   device claimed; `timestamptz` would keep the instant and lose the
//!   offset. The UTC instant beside it, where a query needs one, is a
//!   `timestamptz` column (`entry_checks.at_utc`, `recorded_at`).
//! * **Calendar dates** (licence expiry, `*_on`, `*_day`, `valid_from`):
//!   `date`.
//! * **JSON**: `jsonb` where SQL reads inside it or key order does not
//!   matter (evidence, lists, parameters, the changes' payload); `json` —
//!   the text kept as written, validated — where the stored form is given
//!   back byte for byte: an event's canonical wire form (`entries.payload`,
//!   the printed inspection record), a stored answer (`ops.outcome`,
//!   `idempotency_keys.response`). `jsonb` reorders keys.
//! * **Flags**: `boolean`. **Counts, grams, fen**: `bigint`. **Blobs**:
//!   `bytea`. **Feeds' and logs' integer keys** (SQLite's `INTEGER PRIMARY
//!   KEY`): `bigint GENERATED ALWAYS AS IDENTITY`, beside the distribution
//!   column in the primary key. The two change feeds are numbered by
//!   sequencers instead (below), because an identity is not commit order.
//! * `username … COLLATE NOCASE` becomes a unique index on
//!   `lower(username COLLATE "C")`: ASCII-only folding, as SQLite's NOCASE.
//!
//! ## Distribution (Citus)
//!
//! The distribution column of Shian's tenant data is **`region_code`, the
//! GB/T 2260 six-digit district** (区/县) of the merchant or market the row
//! belongs to. Why the district:
//! * a merchant's push, its pull, its batches, balances and vouchers
//!   issued, and the warnings of its market are all in its district: one
//!   shard, one node, no distributed transaction;
//! * an inspector's tasks and merchants are "the merchants of its
//!   district", a market operator's markets lie in one district, and the
//!   district is the unit of supervision (the district bureau issues the
//!   licence): their reads stay in one shard too;
//! * a district has enough data to be worth a shard and few enough to
//!   spread: about 2,850 districts in China, 15 M businesses, some
//!   thousands each; a merchant (finer) would scatter every inspector's
//!   and market's read over all shards.
//!
//! **Invariant**: a merchant's and a market's `region_code` never change
//! (a business that moves district gets a new licence from the new
//! district's bureau and is registered again). Every fact is stored under
//! its merchant's district, so a retried op finds its first outcome in the
//! same shard: exactly-once holds with `(region_code, op_id)` keys. A
//! merchant in a market is in the market's district.
//!
//! Traces and recalls cross districts; they run on the in-memory read model
//! (the ledger graph each instance follows), not as cross-shard SQL.
//!
//! Two more co-location groups, for what has no district:
//! * `codes` by `code`: trace and voucher codes are made offline by devices
//!   and carry no district, yet must be unique everywhere, and a buyer in
//!   one district redeems a voucher issued in another. One row per code,
//!   hashed by the code: its uniqueness and the voucher's single redemption
//!   are one row's primary key and row lock (see [`LEDGER`]).
//! * `attachments` by `sha256`: photos are content-addressed and uploaded
//!   before the op that names them.
//!
//! **Reference tables** (a copy on every node): the registry (markets,
//! merchants and their directory, accounts, devices and their
//! certificates), templates and checklists, draws, recalls' headers,
//! anonymous reports, the changes feed, the keys, and the bookkeeping.
//! Small or rarely written; every instance and shard reads them locally,
//! and foreign keys may point at them from anywhere.
//!
//! **Foreign keys** go only to reference tables, or between tables of one
//! co-location group with the distribution column on both sides. The check
//! (`server/tests/citus_ready.rs`) holds this against the live catalogue.
//!
//! ## The change feeds, in commit order
//!
//! A pull must never skip a late commit: with plain identities, a row with
//! a smaller id may commit after one with a larger id that a puller has
//! already passed. Shian numbers its feeds with **sequencers**, not with a
//! `pg_snapshot_xmin` watermark:
//! * the ledger feed (`entries.pos`) per district: a push takes its
//!   district's row of `ledger_heads` with
//!   `INSERT … ON CONFLICT (region_code) DO UPDATE SET head = head + n
//!   RETURNING head` and numbers its entries `head - n + 1 ..= head`. The
//!   row stays locked until the push commits, so a district's positions
//!   commit in order: whoever reads position p has every position below
//!   it. A merchant pulls only its own entries, all in its district.
//! * the changes feed (`changes.seq`, registry cards, tasks, notices,
//!   holds; tens of rows a second for a country, not thousands): one row,
//!   `changes_head`, taken the same way. Inspectors pull it over several
//!   districts (a city's prefix), which a per-district number could not
//!   order.
//!
//! A sequencer row is held from the moment it is taken to the commit, so a
//! writer takes it as late as it can: after the rules have judged (under
//! the batches' row locks), just before the rows that carry the numbers are
//! written — and the changes' row last of all.
//!
//! Why not the watermark: transaction ids are per node — with writes
//! through several Citus nodes, or on YugabyteDB (no `pg_current_xact_id`
//! ordering across tablets), there is no one `xmin` to compare with; the
//! watermark also needs the cursor to be a pair (xid, id) rather than the
//! one number the app already stores, and one idle transaction holds every
//! pull back. The sequencer's cost is that pushes of one district commit
//! one after another — what one SQLite writer does for a whole city today —
//! while districts never wait for each other. The gapless numbering also
//! keeps "a push is one run of positions" true (`pushes`).
//!
//! ## Cross-shard facts
//!
//! A sale from a seller in district A to a buyer in district B: the sale
//! (entry, movement, the seller's balance) is written in A's shard; the
//! voucher's row in `codes` (hashed by the code, some shard) in the same
//! transaction, a two-shard transaction that Citus commits with two-phase
//! commit. The buyer's purchase naming the voucher is written in B's shard
//! and sets the voucher row's `redeemed_*` under that row's lock
//! (`UPDATE codes … WHERE code = $1 AND redeemed_entry_id IS NULL`): of two
//! buyers at once, one updates a row and the other none — one redemption,
//! whatever the instance. The link between the two batches (B's
//! `batches.voucher_code` → A's `movements.voucher_code`) is not a foreign
//! key (the tables are in different shards); the `codes` row is what holds
//! both ends. A recall (`recalls`, a reference table) names holders in many
//! districts; each `recall_holders` row and its confirmations live in the
//! holder's district, where its merchant's push confirms it.
//!
//! ## Keys and secrets
//!
//! `server_secrets` (the HS256 key of login tokens), `signing_keys` (each
//! Ed25519 key, made once) and the key ring's history (`key_rings` and
//! `key_ring_keys`: each version written once, the highest in force, two
//! rotations at once racing for one primary key and the loser retrying on
//! the next version — as the files' link-without-clobber in
//! `server/src/keys.rs` does). The report receipts' salt is here too
//! (`server_secrets`, name `receipt`): the database is all the instances
//! share. The trade-off (a copy of the database lets one test guesses at
//! receipts, one argon2id per guess at a random 20-character code) is in
//! docs/scale-out.md §6.
//!
//! The SQLite file's device-side tables (`outbox`, `inbox`, `meta`,
//! `unapplied`), which core's ledger migrations make in every file, have no
//! place here: the server never reads or writes them.

use crate::store::migrations::Migration;

/// Tables distributed by Citus, with their distribution column, in an
/// order that `create_distributed_table` can take them (a table after the
/// tables its foreign keys reference). Tables with the same column form one
/// co-location group, anchored at the first listed.
pub const DISTRIBUTED: &[(&str, &str)] = &[
    ("ledger_heads", "region_code"),
    ("entries", "region_code"),
    ("batches", "region_code"),
    ("movements", "region_code"),
    ("warnings", "region_code"),
    ("pushes", "region_code"),
    ("ops", "region_code"),
    ("inspections", "region_code"),
    ("samples", "region_code"),
    ("recall_proposals", "region_code"),
    ("public_findings", "region_code"),
    ("ratings", "region_code"),
    ("complaints", "region_code"),
    ("complaint_actions", "region_code"),
    ("alerts", "region_code"),
    ("alert_marks", "region_code"),
    ("recall_holders", "region_code"),
    ("recall_confirmations", "region_code"),
    ("staff", "region_code"),
    ("staff_log", "region_code"),
    ("entry_checks", "region_code"),
    ("holds", "region_code"),
    ("self_checks", "region_code"),
    ("self_check_findings", "region_code"),
    ("self_check_closings", "region_code"),
    ("codes", "code"),
    ("attachments", "sha256"),
    ("attachment_owners", "sha256"),
];

/// Tables copied to every node (`create_reference_table`), in an order
/// that call can take them (referenced tables first).
pub const REFERENCE: &[&str] = &[
    "schema_migrations",
    "markets",
    "merchants",
    "directory",
    "users",
    "devices",
    "device_certificates",
    "idempotency_keys",
    "changes_head",
    "changes",
    "draws",
    "draw_tasks",
    "published_checklists",
    "published_self_check_templates",
    "reports",
    "report_messages",
    "report_photos",
    "recalls",
    "server_secrets",
    "signing_keys",
    "key_rings",
    "key_ring_keys",
    "graph_snapshots",
    "graph_snapshot_parts",
];

/// The components in the order they are applied (later ones reference
/// earlier ones' tables).
pub const COMPONENTS: &[(&str, &[Migration])] = &[
    ("server", SERVER),
    ("ledger", LEDGER),
    ("sync", SYNC),
    ("public", PUBLIC),
    ("field", FIELD),
    ("feedback", FEEDBACK),
    ("reports", REPORTS),
    ("signing", SIGNING),
    ("alerts", ALERTS),
    ("recalls", RECALLS),
    ("staff", STAFF),
    ("entry_checks", ENTRY_CHECKS),
    ("holds", HOLDS),
    ("self_checks", SELF_CHECKS),
    ("keys", KEYS),
    ("snapshots", SNAPSHOTS),
];

/// The registry: markets, merchants, accounts, devices; the create
/// requests' idempotency keys (registry creates are their only users, so
/// they sit beside what they created).
pub const SERVER: &[Migration] = &[Migration {
    version: 1,
    name: "markets, merchants, accounts, devices, idempotency keys",
    sql: r#"
CREATE TABLE markets (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    region_code text NOT NULL CHECK (region_code ~ '^[0-9]{6}$'),
    address     text,
    created_at  timestamptz NOT NULL
);

CREATE TABLE merchants (
    id                text PRIMARY KEY,
    market_id         text REFERENCES markets(id),
    name              text NOT NULL,
    uscc              text NOT NULL,
    uscc_acknowledged boolean NOT NULL DEFAULT false,
    licence_no        text,
    licence_expiry    date,
    business_type     text,
    categories        jsonb NOT NULL DEFAULT '[]',
    stall             text,
    contact           text,
    -- The district of the premises: the distribution column of every row
    -- about this merchant (never changes; see the module doc).
    region_code       text NOT NULL CHECK (region_code ~ '^[0-9]{6}$'),
    shop_code         text NOT NULL UNIQUE,
    created_at        timestamptz NOT NULL
);
-- A licence covers one business premises: the same number twice is a
-- double registration (e.g. an import run twice).
CREATE UNIQUE INDEX merchants_licence ON merchants(licence_no) WHERE licence_no IS NOT NULL;
CREATE INDEX merchants_market ON merchants(market_id);
CREATE INDEX merchants_region ON merchants(region_code);
CREATE INDEX merchants_uscc ON merchants(uscc);

-- Merchant names (and their cards) for traces; SQLite keeps it in core's
-- `directory`, which the server fills at registration.
CREATE TABLE directory (
    merchant_id text PRIMARY KEY REFERENCES merchants(id),
    name        text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}',
    -- Taken from the changes feed's sequencer (`changes_head`) by the
    -- write that sets the name, so it is in commit order: each instance's
    -- read model follows the names after the last `seq` it read, and a
    -- rename comes again at a new `seq`.
    seq         bigint NOT NULL UNIQUE CHECK (seq >= 1)
);

CREATE TABLE users (
    id            text PRIMARY KEY,
    username      text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'analyst', 'inspector', 'merchant', 'market_operator')),
    merchant_id   text REFERENCES merchants(id),
    -- region codes (or prefixes) an inspector covers, a JSON array
    regions       jsonb NOT NULL DEFAULT '[]',
    -- market ids a market operator runs, a JSON array
    markets       jsonb NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL,
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until  timestamptz
);
-- SQLite's COLLATE NOCASE: ASCII letters fold, nothing else.
CREATE UNIQUE INDEX users_username ON users (lower(username COLLATE "C"));

CREATE TABLE devices (
    id         text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users(id),
    name       text NOT NULL,
    created_at timestamptz NOT NULL,
    -- A reference table's write reaches every node: the backend refreshes
    -- this coarsely (not on every push); `pushes` has every push.
    last_seen  timestamptz
);
CREATE INDEX devices_user ON devices(user_id);

-- The first response to a create sent with an Idempotency-Key, answered
-- again to its retries. Written in the same transaction as what it created.
CREATE TABLE idempotency_keys (
    account     text        NOT NULL,
    key         text        NOT NULL,
    operation   text        NOT NULL,
    fingerprint text        NOT NULL,
    status      integer     NOT NULL,
    response    json        NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (account, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
"#,
}];

/// Core's ledger, kept by the database: the entries (the events, the
/// ledger feed), the batches with their running balances and the movements
/// (the rules' state, so the database can refuse what the rules refuse
/// inside the push transaction, whichever instance takes it), the
/// warnings, and the code directory.
pub const LEDGER: &[Migration] = &[Migration {
    version: 1,
    name: "entries, batches, movements, warnings, codes, the district sequencers",
    sql: r#"
-- The sequencer of each district's ledger feed: a push numbers its entries
-- from `head` under this row's lock, held to commit (see the module doc).
CREATE TABLE ledger_heads (
    region_code text   PRIMARY KEY,
    head        bigint NOT NULL DEFAULT 0 CHECK (head >= 0)
);

CREATE TABLE entries (
    region_code text        NOT NULL,
    entry_id    text        NOT NULL,
    -- Position in the district's ledger feed: gapless, in commit order.
    pos         bigint      NOT NULL CHECK (pos >= 1),
    kind        text        NOT NULL,
    merchant_id text        NOT NULL REFERENCES merchants(id),
    at          text        NOT NULL,   -- device time, RFC 3339 as sent
    recorded_at timestamptz NOT NULL,   -- the server's clock
    trace_code  text,                   -- the batch a purchase made or a movement moved
    payload     json        NOT NULL,   -- canonical wire form, byte for byte
    voided_by   text,
    PRIMARY KEY (region_code, entry_id),
    UNIQUE (region_code, pos)
);
-- A merchant's pull: its entries in feed order.
CREATE INDEX entries_feed ON entries(region_code, merchant_id, pos);

CREATE TABLE batches (
    region_code      text    NOT NULL,
    trace_code       text    NOT NULL,
    entry_id         text    NOT NULL,
    merchant_id      text    NOT NULL,
    product_name     text    NOT NULL,
    category         text    NOT NULL,
    gtin             text,
    unit             text    NOT NULL,
    received         bigint  NOT NULL,
    out_qty          bigint  NOT NULL DEFAULT 0,
    adjusted         bigint  NOT NULL DEFAULT 0,
    -- Movements not voided: a purchase with any cannot be voided (checked
    -- under this row's lock).
    active_movements integer NOT NULL DEFAULT 0 CHECK (active_movements >= 0),
    voucher_code     text,   -- the upstream voucher scanned on receipt
    supplier         jsonb   NOT NULL,
    production_date  date,
    expiry_date      date,
    unit_price_fen   bigint,
    received_at      text    NOT NULL,   -- device time as sent
    voided           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (region_code, trace_code),
    FOREIGN KEY (region_code, entry_id) REFERENCES entries(region_code, entry_id)
);
CREATE INDEX batches_by_voucher ON batches(voucher_code) WHERE voucher_code IS NOT NULL;
CREATE INDEX batches_by_merchant ON batches(region_code, merchant_id);

CREATE TABLE movements (
    region_code       text    NOT NULL,
    entry_id          text    NOT NULL,
    trace_code        text    NOT NULL,
    merchant_id       text    NOT NULL,
    kind              text    NOT NULL CHECK (kind IN ('sale_merchant', 'sale_named', 'sale_retail', 'destroyed', 'returned', 'adjust')),
    amount            bigint  NOT NULL,
    buyer_merchant_id text,
    buyer_name        text,
    voucher_code      text,
    unit_price_fen    bigint,
    at                text    NOT NULL,   -- device time as sent
    voided            boolean NOT NULL DEFAULT false,
    PRIMARY KEY (region_code, entry_id),
    FOREIGN KEY (region_code, entry_id) REFERENCES entries(region_code, entry_id),
    -- A merchant moves goods out of its own batch: the same district.
    FOREIGN KEY (region_code, trace_code) REFERENCES batches(region_code, trace_code)
);
CREATE INDEX movements_by_batch ON movements(region_code, trace_code);
-- Unique in the district here; unique everywhere through `codes`.
CREATE UNIQUE INDEX movements_by_voucher ON movements(region_code, voucher_code) WHERE voucher_code IS NOT NULL;

CREATE TABLE warnings (
    region_code text        NOT NULL,
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    entry_id    text        NOT NULL,
    merchant_id text        NOT NULL,
    code        text        NOT NULL,
    message     text        NOT NULL,
    evidence    jsonb       NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (region_code, id),
    FOREIGN KEY (region_code, entry_id) REFERENCES entries(region_code, entry_id)
);
CREATE INDEX warnings_by_merchant ON warnings(region_code, merchant_id, code);
CREATE INDEX warnings_by_entry ON warnings(region_code, entry_id);

-- Every trace and voucher code, unique across all districts (a device
-- makes codes offline; core checks both kinds against one space), and the
-- home of each: which district, merchant and entry. A voucher's row is
-- also its single redemption: the buyer's purchase sets `redeemed_*` with
-- `WHERE redeemed_entry_id IS NULL` under the row's lock, so of two buyers
-- at once (through two instances) one wins.
CREATE TABLE codes (
    code              text        PRIMARY KEY,
    kind              text        NOT NULL CHECK (kind IN ('trace', 'voucher')),
    region_code       text        NOT NULL,   -- the district that made it
    merchant_id       text        NOT NULL,
    entry_id          text        NOT NULL,   -- the purchase, or the sale that issued the voucher
    trace_code        text,                   -- a voucher's batch at the seller
    created_at        timestamptz NOT NULL,
    redeemed_region   text,
    redeemed_by       text,
    redeemed_entry_id text,
    redeemed_at       timestamptz,
    CHECK (kind = 'voucher' OR redeemed_entry_id IS NULL),
    CHECK ((redeemed_entry_id IS NULL) = (redeemed_region IS NULL)
       AND (redeemed_entry_id IS NULL) = (redeemed_by IS NULL)
       AND (redeemed_entry_id IS NULL) = (redeemed_at IS NULL)),
    CHECK (kind = 'trace' OR trace_code IS NOT NULL)
);
"#,
}];

/// The op log, who pushed what, and the changes feed.
pub const SYNC: &[Migration] = &[Migration {
    version: 1,
    name: "op log, pushes, the changes feed and its sequencer",
    sql: r#"
-- Ops that are not ledger entries (an entry is its own log row), under the
-- district of the op's subject.
CREATE TABLE ops (
    region_code text        NOT NULL,
    op_id       text        NOT NULL,
    device_id   text        NOT NULL,
    user_id     text        NOT NULL,
    kind        text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('accepted', 'rejected')),
    outcome     json        NOT NULL,   -- {"result":…} or {"error":…}, answered again
    received_at timestamptz NOT NULL,
    PRIMARY KEY (region_code, op_id)
);

-- Who pushed which entries: a push's entries in a district are one run of
-- feed positions (the sequencer numbers them together), so one row per
-- (push, district) keeps each entry's device and account.
CREATE TABLE pushes (
    region_code text        NOT NULL,
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    device_id   text        NOT NULL,
    user_id     text        NOT NULL,
    received_at timestamptz NOT NULL,
    first_pos   bigint      NOT NULL,
    last_pos    bigint      NOT NULL,
    CHECK (first_pos <= last_pos),
    PRIMARY KEY (region_code, id)
);
CREATE INDEX pushes_by_last_pos ON pushes(region_code, last_pos);
CREATE INDEX pushes_by_device ON pushes(device_id, received_at);

-- The sequencer of the changes feed: one row, taken by every writer of a
-- change and held to commit (see the module doc).
CREATE TABLE changes_head (
    feed text   PRIMARY KEY CHECK (feed = 'changes'),
    head bigint NOT NULL CHECK (head >= 0)
);
INSERT INTO changes_head (feed, head) VALUES ('changes', 0);

-- What pull pages through besides a merchant's own entries. A row is
-- addressed to a merchant, to a region (inspectors, by prefix), to a user,
-- to a market (its operator's tablets), or to everyone (all four NULL).
CREATE TABLE changes (
    seq         bigint      PRIMARY KEY CHECK (seq >= 1),
    kind        text        NOT NULL,
    merchant_id text,
    region_code text,
    user_id     text,
    market_id   text,
    payload     jsonb       NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX changes_by_merchant ON changes(merchant_id, seq) WHERE merchant_id IS NOT NULL;
CREATE INDEX changes_by_region ON changes(region_code text_pattern_ops, seq) WHERE region_code IS NOT NULL;
CREATE INDEX changes_by_user ON changes(user_id, seq) WHERE user_id IS NOT NULL;
CREATE INDEX changes_by_market ON changes(market_id, seq) WHERE market_id IS NOT NULL;
CREATE INDEX changes_public ON changes(seq)
    WHERE merchant_id IS NULL AND region_code IS NULL AND user_id IS NULL AND market_id IS NULL;
"#,
}];

/// The consumer pages' reads of the ledger.
pub const PUBLIC: &[Migration] = &[Migration {
    version: 1,
    name: "purchases by trace code and by GTIN",
    sql: r#"
CREATE INDEX entries_purchase_by_trace ON entries(region_code, trace_code)
    WHERE kind = 'ledger.purchase';
CREATE INDEX entries_purchase_by_gtin ON entries(((payload -> 'product' ->> 'gtin')))
    WHERE kind = 'ledger.purchase';
"#,
}];

/// Inspections, samples, attachments, recall proposals, published findings,
/// draws, published checklists. (SQLite's first `alerts` table, replaced
/// by the `"alerts"` component, is not made here.)
pub const FIELD: &[Migration] = &[Migration {
    version: 1,
    name: "inspections, samples, attachments, recall proposals, findings, draws, checklists",
    sql: r#"
-- One row per inspection.record; `payload` is the checked record and
-- `evaluation` what the rules made of it, kept as written so the printed
-- record can be re-rendered exactly as it was judged.
CREATE TABLE inspections (
    region_code      text        NOT NULL,
    id               text        NOT NULL,
    merchant_id      text        NOT NULL,
    template         text        NOT NULL,
    template_version integer     NOT NULL,
    result           text        NOT NULL CHECK (result IN ('compliant', 'basically_compliant', 'non_compliant')),
    violations       jsonb       NOT NULL,
    inspectors       jsonb       NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL,
    payload          json        NOT NULL,
    evaluation       json        NOT NULL,
    pushed_by        text        NOT NULL,
    recorded_at      timestamptz NOT NULL,
    PRIMARY KEY (region_code, id)
);
CREATE INDEX inspections_by_merchant ON inspections(region_code, merchant_id, finished_at);
CREATE INDEX inspections_by_finished ON inspections(finished_at);

-- One row per sample.record (rapid test or lab result); a lab result
-- confirming a rapid test points at it with `confirms`.
CREATE TABLE samples (
    region_code       text             NOT NULL,
    id                text             NOT NULL,
    merchant_id       text             NOT NULL,
    trace_code        text,
    item              text             NOT NULL,
    method            text             NOT NULL,
    value             double precision NOT NULL,
    unit              text             NOT NULL,
    limit_value       double precision NOT NULL,
    taken_at          timestamptz      NOT NULL,
    confirms          text,
    outcome           text             NOT NULL,
    counts_as_failure boolean          NOT NULL,
    payload           json             NOT NULL,
    evaluation        json             NOT NULL,
    pushed_by         text             NOT NULL,
    recorded_at       timestamptz      NOT NULL,
    PRIMARY KEY (region_code, id)
);
CREATE INDEX samples_by_merchant ON samples(region_code, merchant_id, taken_at);
CREATE INDEX samples_by_confirms ON samples(region_code, confirms) WHERE confirms IS NOT NULL;

-- Content-addressed photos and documents, in the database so that every
-- instance sees them; distributed by their hash.
CREATE TABLE attachments (
    sha256       text        PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size         bigint      NOT NULL,
    content_type text        NOT NULL,
    data         bytea       NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE TABLE attachment_owners (
    sha256  text NOT NULL REFERENCES attachments(sha256),
    user_id text NOT NULL,
    PRIMARY KEY (sha256, user_id)
);

-- A recall an analyst has to decide on (the level depends on the harm).
CREATE TABLE recall_proposals (
    region_code text        NOT NULL,
    id          text        NOT NULL,
    merchant_id text        NOT NULL,
    trace_code  text,
    sample_id   text        NOT NULL,
    reason      text        NOT NULL,
    basis       text        NOT NULL,
    status      text        NOT NULL DEFAULT 'proposed',
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (region_code, id)
);
CREATE INDEX recall_proposals_by_trace ON recall_proposals(trace_code);

-- What a shop's public page shows besides its registry data (抽检结果公开).
CREATE TABLE public_findings (
    region_code  text        NOT NULL,
    id           text        NOT NULL,
    merchant_id  text        NOT NULL,
    kind         text        NOT NULL,
    ref_id       text        NOT NULL,
    title        text        NOT NULL,
    summary      text        NOT NULL,
    trace_code   text,
    published_at timestamptz NOT NULL,
    PRIMARY KEY (region_code, id)
);
CREATE INDEX public_findings_by_merchant ON public_findings(region_code, merchant_id, published_at);

-- Double random draws (双随机): an analyst's, over any area; few rows.
CREATE TABLE draws (
    id         text        PRIMARY KEY,
    name       text        NOT NULL,
    seed       text        NOT NULL,
    seed_hash  text        NOT NULL,
    algorithm  text        NOT NULL,
    pool_size  integer     NOT NULL,
    params     jsonb       NOT NULL,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE draw_tasks (
    id          text    PRIMARY KEY,
    draw_id     text    NOT NULL REFERENCES draws(id),
    position    integer NOT NULL,
    merchant_id text    NOT NULL,
    grade       text    NOT NULL,
    inspector_a text    NOT NULL,
    inspector_b text    NOT NULL
);
CREATE UNIQUE INDEX draw_tasks_order ON draw_tasks(draw_id, position);

-- Which checklist templates went out on the changes feed.
CREATE TABLE published_checklists (
    template_id text    NOT NULL,
    version     integer NOT NULL,
    seq         bigint  NOT NULL,
    PRIMARY KEY (template_id, version)
);
"#,
}];

/// Consumers' ratings and complaints, and the inspectors' actions on them.
pub const FEEDBACK: &[Migration] = &[Migration {
    version: 1,
    name: "ratings, complaints (with the product they name), complaint actions",
    sql: r#"
CREATE TABLE ratings (
    region_code   text   NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    merchant_id   text   NOT NULL,
    hygiene       text   NOT NULL CHECK (hygiene IN ('good', 'fair', 'poor')),
    freshness     text   NOT NULL CHECK (freshness IN ('good', 'fair', 'poor')),
    price_honesty text   NOT NULL CHECK (price_honesty IN ('good', 'fair', 'poor')),
    rated_on      date   NOT NULL,
    PRIMARY KEY (region_code, id)
);
CREATE INDEX ratings_by_merchant ON ratings(region_code, merchant_id, rated_on);

-- The photo, when there is one, is a row of `attachments`.
-- `seq` is the order complaints came in, in place of SQLite's rowid: the
-- list is newest first by `received_on` (a date, so many tie) and then by
-- arrival, and a page must not reshuffle between requests. Not a key; on
-- Citus each node numbers from a range of its own, so across nodes it is
-- a stable tie-break rather than arrival order, which is all a page needs.
CREATE TABLE complaints (
    region_code  text NOT NULL,
    id           text NOT NULL,
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    merchant_id  text NOT NULL,
    category     text NOT NULL,
    text         text NOT NULL,
    photo_sha256 text,
    received_on  date NOT NULL,
    -- the product a complaint names (the hot-topic warnings group by it)
    product      text,
    PRIMARY KEY (region_code, id)
);
CREATE INDEX complaints_by_merchant ON complaints(region_code, merchant_id, received_on);
-- The risk grade and the warnings read every complaint since a day, in
-- every district.
CREATE INDEX complaints_by_received ON complaints(received_on, seq);

-- One row per inspector action: accept or refuse once, close once.
CREATE TABLE complaint_actions (
    region_code  text        NOT NULL,
    complaint_id text        NOT NULL,
    action       text        NOT NULL CHECK (action IN ('accept', 'refuse', 'close')),
    detail       text,
    note         text,
    decided_on   date        NOT NULL,
    user_id      text        NOT NULL,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (region_code, complaint_id, action),
    FOREIGN KEY (region_code, complaint_id) REFERENCES complaints(region_code, id)
);
"#,
}];

/// Anonymous reports (吹哨人): few, looked up by a receipt that names no
/// district, so a reference table with the receipt unique everywhere.
pub const REPORTS: &[Migration] = &[Migration {
    version: 1,
    name: "anonymous reports, their messages and photos",
    sql: r#"
CREATE TABLE reports (
    id              text    PRIMARY KEY,
    -- argon2id of the receipt under the server's secret salt.
    receipt_hash    bytea   NOT NULL UNIQUE,
    category        text    NOT NULL,
    description     text    NOT NULL,
    merchant_ref    text,
    merchant_id     text,
    location        text,
    occurred_on     date,
    received_on     date    NOT NULL,
    -- Order of arrival within a day, without a time.
    arrival         integer NOT NULL,
    status          text    NOT NULL CHECK (status IN ('received', 'acknowledged', 'investigating', 'closed')),
    priority        text    NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    acknowledged_on date,
    feedback_on     date,
    closed_on       date,
    close_note      text,
    assigned_to     text,
    task_id         text
);
CREATE INDEX reports_by_status ON reports(status, received_on);
CREATE TABLE report_messages (
    report_id text    NOT NULL REFERENCES reports(id),
    seq       integer NOT NULL,
    author    text    NOT NULL CHECK (author IN ('reporter', 'handler')),
    -- The handler's account (handlers are accountable; reporters are not).
    handler   text,
    body      text    NOT NULL,
    sent_on   date    NOT NULL,
    PRIMARY KEY (report_id, seq)
);
CREATE TABLE report_photos (
    report_id text    NOT NULL REFERENCES reports(id),
    seq       integer NOT NULL,
    sha256    text    NOT NULL,
    data      bytea   NOT NULL,
    width     integer NOT NULL,
    height    integer NOT NULL,
    added_on  date    NOT NULL,
    PRIMARY KEY (report_id, seq)
);
"#,
}];

/// Device certificates: verified by anyone, revoked everywhere at once.
pub const SIGNING: &[Migration] = &[Migration {
    version: 1,
    name: "device certificates and their revocation",
    sql: r#"
CREATE TABLE device_certificates (
    cert_id     text        PRIMARY KEY,
    device_id   text        NOT NULL REFERENCES devices(id),
    merchant_id text        NOT NULL,
    public_key  text        NOT NULL,
    certificate text        NOT NULL,
    kid         text        NOT NULL,
    valid_from  date        NOT NULL,
    valid_until date        NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX device_certificates_by_device ON device_certificates(device_id);
CREATE INDEX device_certificates_revoked ON device_certificates(revoked_at) WHERE revoked_at IS NOT NULL;
"#,
}];

/// Alerts with identity and lifecycle, under their subject's district (a
/// merchant's or a market's; `000000` for a national subject such as a
/// product's complaint hot topic).
pub const ALERTS: &[Migration] = &[Migration {
    version: 1,
    name: "alerts with identity and lifecycle, marks for the incremental pass",
    sql: r#"
CREATE TABLE alerts (
    region_code    text        NOT NULL,
    id             text        NOT NULL,
    kind           text        NOT NULL,
    subject_type   text        NOT NULL CHECK (subject_type IN ('merchant', 'market', 'category', 'product')),
    subject_id     text        NOT NULL,
    subject_name   text        NOT NULL,
    -- The subject's market (a merchant's, or the market itself).
    market_id      text,
    -- The subject's id when it is a merchant (the list filters on it).
    merchant_id    text,
    severity       text        NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    title          text        NOT NULL,
    evidence       jsonb       NOT NULL,
    status         text        NOT NULL CHECK (status IN ('new', 'assigned', 'resolved')),
    assigned_to    text,
    note           text,
    rules_version  text        NOT NULL,
    -- The newest fact behind it: after a resolution only newer facts
    -- raise the same alert again.
    latest_fact_at timestamptz NOT NULL,
    first_seen_at  timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    resolved_at    timestamptz,
    PRIMARY KEY (region_code, id)
);
CREATE UNIQUE INDEX alerts_open ON alerts(region_code, kind, subject_type, subject_id) WHERE status <> 'resolved';
CREATE INDEX alerts_resolved ON alerts(region_code, kind, subject_type, subject_id, resolved_at) WHERE status = 'resolved';
CREATE INDEX alerts_by_status ON alerts(status, last_seen_at);
CREATE INDEX alerts_by_merchant ON alerts(region_code, merchant_id) WHERE merchant_id IS NOT NULL;
CREATE INDEX alerts_by_market ON alerts(region_code, market_id) WHERE market_id IS NOT NULL;
-- Merchants whose facts changed since the last pass. `n` counts the marks
-- since the row was made: several instances mark and pass at once, and a
-- pass clears a mark only if it is still as the pass read it (same `n`),
-- so a merchant marked again during a pass keeps its mark for the next
-- (SQLite's one writer needs no count).
CREATE TABLE alert_marks (
    region_code text   NOT NULL,
    merchant_id text   NOT NULL,
    n           bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (region_code, merchant_id)
);
"#,
}];

/// Recalls: the header is national (a reference table); each holder and
/// its confirmations live in the holder's district.
pub const RECALLS: &[Migration] = &[Migration {
    version: 1,
    name: "recalls, their holders and confirmations",
    sql: r#"
CREATE TABLE recalls (
    id               text        PRIMARY KEY,
    trace_code       text        NOT NULL,
    product_name     text        NOT NULL,
    level            integer     NOT NULL CHECK (level IN (1, 2, 3)),
    reason           text        NOT NULL,
    proposal_id      text,
    started_by       text        NOT NULL,
    started_at       timestamptz NOT NULL,
    start_by         timestamptz NOT NULL,
    finish_by        date        NOT NULL,
    finish_by_end    timestamptz NOT NULL,
    calendar_warning text,
    status           text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    closed_at        timestamptz
);
CREATE INDEX recalls_by_status ON recalls(status, started_at);
-- A proposal starts at most one recall.
CREATE UNIQUE INDEX recalls_by_proposal ON recalls(proposal_id) WHERE proposal_id IS NOT NULL;

-- One row per (merchant, batch) that must confirm; the latest_* columns
-- are core's recall::latest over recall_confirmations.
CREATE TABLE recall_holders (
    region_code       text        NOT NULL,   -- the holder's district
    recall_id         text        NOT NULL REFERENCES recalls(id),
    merchant_id       text        NOT NULL,
    trace_code        text        NOT NULL,
    seq               integer     NOT NULL,
    merchant_name     text,
    parent_trace_code text,
    depth             integer     NOT NULL,
    product_name      text        NOT NULL,
    received_at       text        NOT NULL,
    unit              text        NOT NULL,
    received          bigint      NOT NULL,
    held_at_start     bigint      NOT NULL,
    latest_op_id      text,
    held              bigint,
    returned          bigint,
    destroyed         bigint,
    confirmed_at      timestamptz,
    confirmations     integer     NOT NULL DEFAULT 0,
    reminded_at       timestamptz,
    PRIMARY KEY (region_code, recall_id, merchant_id, trace_code)
);
CREATE INDEX recall_holders_by_recall ON recall_holders(recall_id, seq);
CREATE INDEX recall_holders_by_merchant ON recall_holders(region_code, merchant_id);
CREATE INDEX recall_holders_by_code ON recall_holders(trace_code);

-- Every accepted confirmation (events; never updated).
CREATE TABLE recall_confirmations (
    region_code  text        NOT NULL,
    op_id        text        NOT NULL,
    recall_id    text        NOT NULL,
    merchant_id  text        NOT NULL,
    trace_code   text        NOT NULL,
    held         bigint      NOT NULL,
    returned     bigint      NOT NULL,
    destroyed    bigint      NOT NULL,
    confirmed_at timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (region_code, op_id),
    FOREIGN KEY (region_code, recall_id, merchant_id, trace_code)
        REFERENCES recall_holders(region_code, recall_id, merchant_id, trace_code)
);
CREATE INDEX recall_confirmations_by_holder
    ON recall_confirmations(region_code, recall_id, merchant_id, trace_code);
"#,
}];

/// The staff register (健康证) and its log.
pub const STAFF: &[Migration] = &[Migration {
    version: 1,
    name: "staff register and its log",
    sql: r#"
-- The current record of each worker.
CREATE TABLE staff (
    region_code    text        NOT NULL,
    staff_id       text        NOT NULL,
    merchant_id    text        NOT NULL REFERENCES merchants(id),
    name           text        NOT NULL,
    role           text        NOT NULL,
    certificate_no text,
    issued_on      date,
    expires_on     date,
    photo          text,
    recorded_at    timestamptz NOT NULL,
    recorded_by    text        NOT NULL,
    PRIMARY KEY (region_code, staff_id)
);
CREATE INDEX staff_by_merchant ON staff(region_code, merchant_id, name);
CREATE INDEX staff_by_expiry ON staff(expires_on) WHERE expires_on IS NOT NULL;

-- Every accepted change (events; never updated).
CREATE TABLE staff_log (
    region_code text        NOT NULL,
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    staff_id    text        NOT NULL,
    merchant_id text        NOT NULL,
    action      text        NOT NULL CHECK (action IN ('upsert', 'remove')),
    record      jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL,
    recorded_by text        NOT NULL,
    PRIMARY KEY (region_code, id)
);
CREATE INDEX staff_log_by_merchant ON staff_log(region_code, merchant_id, id);
"#,
}];

/// Market entry checks (入场查验), under the merchant's (= the market's)
/// district.
pub const ENTRY_CHECKS: &[Migration] = &[Migration {
    version: 1,
    name: "entry checks and their links to purchases",
    sql: r#"
CREATE TABLE entry_checks (
    region_code       text        NOT NULL,
    check_id          text        NOT NULL,
    market_id         text        NOT NULL,
    merchant_id       text        NOT NULL,
    product_name      text        NOT NULL,
    category          text        NOT NULL,
    decision          text        NOT NULL CHECK (decision IN ('accepted', 'refused')),
    -- The tablet's time as sent, the same in UTC, and its date in
    -- Asia/Shanghai (lists and charts are by local day).
    at                text        NOT NULL,
    at_utc            timestamptz NOT NULL,
    local_date        date        NOT NULL,
    -- The canonical wire form, and the answer the push was given (a retry
    -- with the same check_id answers it again).
    payload           json        NOT NULL,
    answer            json        NOT NULL,
    -- The seller's purchase these goods were booked as (either may arrive
    -- first); one check per purchase.
    purchase_entry_id text,
    linked_at         timestamptz,
    recorded_by       text        NOT NULL,
    recorded_at       timestamptz NOT NULL,
    PRIMARY KEY (region_code, check_id)
);
CREATE UNIQUE INDEX entry_checks_by_purchase ON entry_checks(region_code, purchase_entry_id) WHERE purchase_entry_id IS NOT NULL;
CREATE INDEX entry_checks_by_market ON entry_checks(region_code, market_id, local_date);
CREATE INDEX entry_checks_by_merchant ON entry_checks(region_code, merchant_id, at_utc);
"#,
}];

/// Holds (暂扣) placed by market operators and how they ended, beside the
/// batch they hold.
pub const HOLDS: &[Migration] = &[Migration {
    version: 1,
    name: "holds placed by market operators and how they ended",
    sql: r#"
CREATE TABLE holds (
    region_code      text        NOT NULL,
    hold_id          text        NOT NULL,
    market_id        text        NOT NULL,
    merchant_id      text        NOT NULL,
    merchant_name    text        NOT NULL,
    trace_code       text        NOT NULL,
    product_name     text        NOT NULL,
    reason           text        NOT NULL CHECK (reason IN ('unknown_origin', 'rapid_test_failed', 'recall', 'other')),
    note             text,
    placed_at        text        NOT NULL,   -- the tablet's time, RFC 3339 as sent
    placed_by        text        NOT NULL,   -- user id
    recorded_at      timestamptz NOT NULL,
    change_seq       bigint      NOT NULL,   -- the hold.placed change in the merchant's feed
    on_hand          bigint      NOT NULL,
    on_hand_zh       text        NOT NULL,
    status           text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'released', 'destroyed')),
    ended_at         timestamptz,
    ended_by         text,
    ended_note       text,
    dispose_entry_id text,
    witness          text,
    photos           jsonb       NOT NULL DEFAULT '[]',
    PRIMARY KEY (region_code, hold_id)
);
-- At most one hold in force per batch.
CREATE UNIQUE INDEX holds_active ON holds(region_code, merchant_id, trace_code) WHERE status = 'active';
CREATE INDEX holds_by_market ON holds(region_code, market_id, status, recorded_at);
"#,
}];

/// Markets' self-inspections (日管控、周排查、月调度), under the market's
/// district.
pub const SELF_CHECKS: &[Migration] = &[Migration {
    version: 1,
    name: "self-inspections, findings, closings",
    sql: r#"
CREATE TABLE self_checks (
    region_code      text        NOT NULL,
    id               text        NOT NULL,
    market_id        text        NOT NULL,
    template_id      text        NOT NULL,
    template_version integer     NOT NULL,
    cadence          text        NOT NULL,
    period           text        NOT NULL,
    -- The period's first and last Shanghai dates, for range reads.
    first_day        date        NOT NULL,
    last_day         date        NOT NULL,
    result           text        NOT NULL,
    answers          jsonb       NOT NULL,
    evaluation       jsonb       NOT NULL,
    performed_by     text        NOT NULL,
    at               timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL,
    PRIMARY KEY (region_code, id)
);
CREATE INDEX self_checks_by_market ON self_checks(region_code, market_id, last_day);

CREATE TABLE self_check_findings (
    region_code  text NOT NULL,
    id           text NOT NULL,
    check_id     text NOT NULL,
    market_id    text NOT NULL,
    item_id      text NOT NULL,
    item_text    text NOT NULL,
    note         text NOT NULL,
    follow_up_by date NOT NULL,
    PRIMARY KEY (region_code, id),
    FOREIGN KEY (region_code, check_id) REFERENCES self_checks(region_code, id)
);
CREATE INDEX self_check_findings_by_market ON self_check_findings(region_code, market_id, follow_up_by);

-- A finding's closing: one per finding, never edited.
CREATE TABLE self_check_closings (
    region_code text        NOT NULL,
    finding_id  text        NOT NULL,
    note        text        NOT NULL,
    photos      jsonb       NOT NULL,
    closed_by   text        NOT NULL,
    closed_at   timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (region_code, finding_id),
    FOREIGN KEY (region_code, finding_id) REFERENCES self_check_findings(region_code, id)
);

-- Which self-inspection templates went out on the changes feed.
CREATE TABLE published_self_check_templates (
    template_id text    NOT NULL,
    version     integer NOT NULL,
    seq         bigint  NOT NULL,
    PRIMARY KEY (template_id, version)
);
"#,
}];

/// The secrets and signing keys every instance shares (on SQLite they are
/// files in `data/keys/`, see `server/src/keys.rs`).
pub const KEYS: &[Migration] = &[Migration {
    version: 1,
    name: "shared secrets, signing keys, the key ring's history",
    sql: r#"
-- Secrets made on first start by whichever instance comes first
-- (`INSERT … ON CONFLICT DO NOTHING`, then read back: the loser reads the
-- winner's). `jwt`: the HS256 key of login tokens; `receipt`: the salt of
-- report receipts' argon2id hashes (with SQLite a file beside the database,
-- out of its copies; here the database is all the instances share, so a
-- copy of it lets one test guesses at receipts: one argon2id per guess at
-- a random 20-character code, `crate::reports::receipt`).
CREATE TABLE server_secrets (
    name       text        PRIMARY KEY CHECK (name IN ('jwt', 'receipt')),
    secret     bytea       NOT NULL CHECK (length(secret) >= 32),
    created_at timestamptz NOT NULL
);

-- Each Ed25519 signing key, made once and never changed (retirement is
-- the ring's business).
CREATE TABLE signing_keys (
    kid        text        PRIMARY KEY,
    alg        text        NOT NULL CHECK (alg = 'Ed25519'),
    secret_key bytea       NOT NULL CHECK (length(secret_key) = 32),
    public_key bytea       NOT NULL CHECK (length(public_key) = 32),
    created_at timestamptz NOT NULL
);

-- The key ring's versions, each written once and never changed; the
-- highest is in force, the lower ones are the history of rotations and
-- retirements. Two changes at once both insert version n + 1: the primary
-- key lets one in, the other reads the winner's ring and tries n + 2.
CREATE TABLE key_rings (
    version     bigint      PRIMARY KEY CHECK (version >= 1),
    current_kid text        NOT NULL REFERENCES signing_keys(kid),
    change      text        NOT NULL CHECK (change IN ('first', 'rotate', 'retire')),
    created_at  timestamptz NOT NULL
);
-- `position`: the key's place in its ring (the trust list's order: the
-- first key first), as the file rings keep it.
CREATE TABLE key_ring_keys (
    version    bigint      NOT NULL REFERENCES key_rings(version),
    position   integer     NOT NULL CHECK (position >= 0),
    kid        text        NOT NULL REFERENCES signing_keys(kid),
    retired_at timestamptz,
    PRIMARY KEY (version, kid),
    UNIQUE (version, position)
);
"#,
}];

/// The calls that make each table distributed or a reference table on
/// Citus, in an order Citus accepts: reference tables first (referenced
/// before referencing), then each co-location group anchored at its first
/// table. Used by [`super::migrate::distribute_on_citus`] and shown in
/// `docs/scale-out.md`.
pub fn citus_calls() -> Vec<(&'static str, String)> {
    let mut calls: Vec<(&str, String)> = REFERENCE
        .iter()
        .map(|t| (*t, format!("SELECT create_reference_table('{t}')")))
        .collect();
    for (i, (table, column)) in DISTRIBUTED.iter().enumerate() {
        let anchor = DISTRIBUTED[..i]
            .iter()
            .find(|(_, c)| c == column)
            .map(|(t, _)| *t);
        let colocate = anchor.unwrap_or("none");
        calls.push((
            table,
            format!("SELECT create_distributed_table('{table}', '{column}', colocate_with => '{colocate}')"),
        ));
    }
    calls
}

/// Saved read models (`crate::store::graph::GraphSnapshot`): an instance
/// starts from the newest and reads only the entries after it. Reference
/// tables, because any instance on any node starts from them; each node
/// then holds a copy (about 70 bytes per ledger entry, the last two
/// snapshots kept: docs/scale-out.md §7).
pub const SNAPSHOTS: &[Migration] = &[Migration {
    version: 1,
    name: "saved read models",
    sql: r#"
-- `meta`: the marks of each district's feed, the directory position and
-- the skipped rows (`SnapshotMeta`); `position`: the sum of the marks, by
-- which the newest is found; `bytes`: the body's length over its parts.
CREATE TABLE graph_snapshots (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    taken_at   timestamptz NOT NULL,
    format     integer     NOT NULL,
    position   bigint      NOT NULL CHECK (position >= 0),
    meta       jsonb       NOT NULL,
    parts      integer     NOT NULL CHECK (parts >= 1),
    bytes      bigint      NOT NULL CHECK (bytes >= 0)
);
CREATE INDEX graph_snapshots_by_position ON graph_snapshots(position DESC, id DESC);

-- The body in parts of at most 64 MiB (a bytea value holds 1 GB at most,
-- and a part is sent and held in one piece).
CREATE TABLE graph_snapshot_parts (
    snapshot_id bigint  NOT NULL REFERENCES graph_snapshots(id) ON DELETE CASCADE,
    part        integer NOT NULL CHECK (part >= 0),
    body        bytea   NOT NULL,
    PRIMARY KEY (snapshot_id, part)
);
"#,
}];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Each table in one list, once; each component's versions 1, 2, 3…
    #[test]
    fn lists_are_disjoint_and_components_numbered() {
        let mut seen = BTreeSet::new();
        for t in REFERENCE.iter().chain(DISTRIBUTED.iter().map(|(t, _)| t)) {
            assert!(seen.insert(*t), "{t} listed twice");
        }
        for (component, steps) in COMPONENTS {
            for (i, m) in steps.iter().enumerate() {
                assert_eq!(m.version, i as i64 + 1, "{component}");
            }
        }
    }

    #[test]
    fn citus_calls_cover_every_table_with_groups_anchored() {
        let calls = citus_calls();
        assert_eq!(calls.len(), REFERENCE.len() + DISTRIBUTED.len());
        let sql: Vec<&str> = calls.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(sql[0], "SELECT create_reference_table('schema_migrations')");
        assert!(sql.contains(
            &"SELECT create_distributed_table('ledger_heads', 'region_code', colocate_with => 'none')"
        ));
        assert!(sql.contains(
            &"SELECT create_distributed_table('entries', 'region_code', colocate_with => 'ledger_heads')"
        ));
        assert!(sql.contains(
            &"SELECT create_distributed_table('attachment_owners', 'sha256', colocate_with => 'attachments')"
        ));
    }
}
