-- Bodies small enough to keep in the database (see the Postgres migration).
CREATE TABLE small_objects (
    object_key  TEXT  PRIMARY KEY NOT NULL,
    user_id     BLOB  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body        BLOB  NOT NULL
) STRICT;
CREATE INDEX small_objects_user_idx ON small_objects (user_id);
