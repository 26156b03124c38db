-- The webhook outbox (results pushed to the business system, at least once) and the
-- sweeper's mark: as in the SQLite schema's version 3 (server/src/store/sqlite/db.rs).

ALTER TABLE attempts ADD COLUMN swept_at BIGINT NOT NULL DEFAULT 0;

-- One `order.paid` event per order, written in the transaction that marks the order paid.
CREATE TABLE webhook_outbox (
    event_id     TEXT PRIMARY KEY,
    order_no     TEXT NOT NULL UNIQUE REFERENCES orders(order_no),
    attempt_id   TEXT NOT NULL,
    amount       BIGINT NOT NULL,
    paid_amount  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    tries        BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    delivered_at BIGINT,
    last_error   TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE delivered_at IS NULL;
CREATE INDEX attempts_live ON attempts (state) WHERE state IN ('creating', 'unpaid', 'paying');
