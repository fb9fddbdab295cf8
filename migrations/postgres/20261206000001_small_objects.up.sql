-- Bodies small enough to keep in the database (BLINDVAULT_INLINE_BYTES), under the object key
-- they would have had in the object store: a small write then commits in one transaction with
-- no object-store request. Rows go like objects do: through pending_objects and the sweeper,
-- or with their account.
CREATE TABLE small_objects (
    object_key  TEXT  PRIMARY KEY,
    user_id     UUID  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body        BYTEA NOT NULL
);
CREATE INDEX small_objects_user_idx ON small_objects (user_id);
