-- The merchant's tables on PostgreSQL: the same rows and meaning as the SQLite schema
-- (server/src/store/sqlite/db.rs, version 2), with the store's refusals also written as
-- constraints, so that two server instances can never commit what the contract forbids even
-- if both held a lease at once.
--
-- JSON stays TEXT (as in SQLite): a stored reply is sent again exactly as it was stored.

CREATE TABLE orders (
    order_no     TEXT PRIMARY KEY,
    content      TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    amount       BIGINT NOT NULL,
    buyer        TEXT NOT NULL DEFAULT '',
    paid_attempt TEXT,
    paid_amount  BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX orders_by_buyer_content ON orders (buyer, fingerprint, created_at);

CREATE TABLE attempts (
    attempt_id    TEXT PRIMARY KEY,
    order_no      TEXT NOT NULL REFERENCES orders(order_no),
    seq           BIGINT NOT NULL,
    fingerprint   TEXT NOT NULL,
    amount        BIGINT,
    state         TEXT NOT NULL
                  CHECK (state IN ('creating', 'unpaid', 'paying', 'paid', 'closed', 'failed')),
    prepay        TEXT,
    expires_at    BIGINT,
    last_query_at BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (order_no, seq)
);
-- Rule 1.2 in the data: at most one live attempt (not known dead, not yet paid) per order.
-- (`paid` is left out on purpose: a payment the provider reports is recorded whatever else
-- the order has, paid is final.)
CREATE UNIQUE INDEX attempts_one_live_per_order ON attempts (order_no)
    WHERE state IN ('creating', 'unpaid', 'paying');

CREATE TABLE idempotency_keys (
    order_no    TEXT NOT NULL,
    idem_key    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    reply       TEXT NOT NULL,
    attempt_id  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (order_no, idem_key)
);

CREATE TABLE notifies (
    notify_id   TEXT PRIMARY KEY,
    attempt_id  TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE submissions (
    buyer       TEXT NOT NULL,
    idem_key    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    order_no    TEXT NOT NULL REFERENCES orders(order_no),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (buyer, idem_key)
);
CREATE INDEX submissions_by_order ON submissions (order_no);
