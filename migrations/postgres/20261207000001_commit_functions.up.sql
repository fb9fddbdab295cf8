-- A write without a quota in one round trip: these functions run the statements of the
-- transactions in src/store/sql/vaults.rs (which stay the path for writes under a quota, and for
-- SQLite) inside the database. Each answers an outcome and, when it is `done`, the vault as it
-- now is: `user_gone`, `refused` (a create whose vault exists; a replace whose vault is absent
-- or at another revision) or `upload_lost` (the upload is overdue or being swept) write
-- nothing. Routine refusals are decided before anything is written, so that they do not fill
-- the server's log with errors; what is decided after a write raises, which rolls the call
-- back: a create whose user is gone (SQLSTATE 23503) or whose upload is lost (BV002).

-- Locks the user's row against the account's deletion: false when the user is gone.
CREATE FUNCTION blindvault_lock_user(p_user UUID) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM users WHERE id = p_user FOR KEY SHARE;
    RETURN FOUND;
END
$$;

-- The body, kept here (p_body) or uploaded to the object store under p_key (then the upload's
-- queue entry is taken): false, with nothing written, when that upload is overdue or swept.
CREATE FUNCTION blindvault_claim(p_user UUID, p_key TEXT, p_body BYTEA, p_now TIMESTAMPTZ)
RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    IF p_body IS NOT NULL THEN
        INSERT INTO small_objects (object_key, user_id, body) VALUES (p_key, p_user, p_body);
        RETURN TRUE;
    END IF;
    DELETE FROM pending_objects WHERE object_key = p_key AND delete_after > p_now AND lease_until IS NULL;
    RETURN FOUND;
END
$$;

-- The change log's next entry for the vault's new revision, and the other replicas told.
CREATE FUNCTION blindvault_log(p_vault vaults, p_kind TEXT, p_now TIMESTAMPTZ, p_channel TEXT, p_notice TEXT)
RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
    v_seq BIGINT;
BEGIN
    INSERT INTO change_heads (user_id, seq) VALUES (p_vault.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET seq = change_heads.seq + 1 RETURNING seq INTO v_seq;
    INSERT INTO changes (user_id, seq, kind, vault_id, revision, etag, trash_id, at)
        VALUES (p_vault.user_id, v_seq, p_kind, p_vault.vault_id, p_vault.revision, p_vault.etag, NULL, p_now);
    PERFORM pg_notify(p_channel, p_notice);
END
$$;

-- The vault's insert comes first: its foreign key locks the user's row as the replace's
-- explicit lock does (an account being deleted makes it wait, a deleted one fails it: SQLSTATE
-- 23503), and a vault that exists is refused before anything is written.
CREATE FUNCTION blindvault_create(
    p_user UUID, p_vault TEXT, p_etag TEXT, p_version BIGINT, p_size BIGINT, p_sha256 BYTEA,
    p_iv BYTEA, p_salt BYTEA, p_now TIMESTAMPTZ, p_uid UUID, p_key TEXT, p_body BYTEA,
    p_kind TEXT, p_channel TEXT, p_notice TEXT, OUT outcome TEXT, OUT vault vaults)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO vaults (user_id, vault_id, etag, revision, version, size, sha256, iv, salt,
                        created_at, updated_at, uid)
        VALUES (p_user, p_vault, p_etag, 1, p_version, p_size, p_sha256, p_iv, p_salt, p_now, p_now, p_uid)
        ON CONFLICT (user_id, vault_id) DO NOTHING RETURNING * INTO vault;
    IF NOT FOUND THEN
        outcome := 'refused';
        RETURN;
    END IF;
    IF NOT blindvault_claim(p_user, p_key, p_body, p_now) THEN
        RAISE EXCEPTION 'upload lost' USING ERRCODE = 'BV002';
    END IF;
    PERFORM blindvault_log(vault, p_kind, p_now, p_channel, p_notice);
    outcome := 'done';
END
$$;

-- p_expect: the etag the vault must be at (NULL: any). p_keep: revisions kept in the window
-- (NULL: no history; the old object is queued for deletion at p_old_delete_after), p_aged:
-- revisions replaced before this time may leave the window.
CREATE FUNCTION blindvault_replace(
    p_user UUID, p_vault TEXT, p_etag TEXT, p_version BIGINT, p_size BIGINT, p_sha256 BYTEA,
    p_iv BYTEA, p_salt BYTEA, p_now TIMESTAMPTZ, p_receipt BYTEA, p_prefix TEXT, p_key TEXT,
    p_body BYTEA, p_expect TEXT, p_keep BIGINT, p_aged TIMESTAMPTZ, p_old_delete_after TIMESTAMPTZ,
    p_kind TEXT, p_channel TEXT, p_notice TEXT, OUT outcome TEXT, OUT vault vaults)
LANGUAGE plpgsql AS $$
DECLARE
    old vaults;
    v_floor BIGINT;
    v_dropped_bytes BIGINT := 0;
    v_dropped BIGINT := 0;
BEGIN
    IF NOT blindvault_lock_user(p_user) THEN
        outcome := 'user_gone';
        RETURN;
    END IF;
    SELECT * INTO old FROM vaults WHERE user_id = p_user AND vault_id = p_vault FOR UPDATE;
    IF NOT FOUND OR (p_expect IS NOT NULL AND old.etag <> p_expect) THEN
        outcome := 'refused';
        RETURN;
    END IF;
    IF NOT blindvault_claim(p_user, p_key, p_body, p_now) THEN
        outcome := 'upload_lost';
        RETURN;
    END IF;
    IF p_keep IS NULL THEN
        INSERT INTO pending_objects (object_key, user_id, delete_after, created_at)
            VALUES (p_prefix || old.etag, p_user, p_old_delete_after, p_now)
            ON CONFLICT (object_key) DO UPDATE SET delete_after = excluded.delete_after, lease_until = NULL;
    ELSE
        INSERT INTO vault_revisions (uid, revision, user_id, etag, version, size, sha256, iv, salt,
                                     receipt, written_as, rename_receipt, created_at, replaced_at)
            VALUES (old.uid, old.revision, old.user_id, old.etag, old.version, old.size, old.sha256,
                    old.iv, old.salt, old.receipt, old.written_as, old.rename_receipt, old.updated_at, p_now);
        v_floor := old.revision - p_keep;
        WITH dropped AS (
            DELETE FROM vault_revisions
             WHERE uid = old.uid AND in_window AND revision <= v_floor AND replaced_at <= p_aged
            RETURNING etag, size
        ), queued AS (
            INSERT INTO pending_objects (object_key, user_id, delete_after, created_at)
                SELECT p_prefix || etag, p_user, p_old_delete_after, p_now FROM dropped
                ON CONFLICT (object_key) DO UPDATE SET delete_after = excluded.delete_after, lease_until = NULL
        )
        SELECT COALESCE(SUM(size), 0), COUNT(*) INTO v_dropped_bytes, v_dropped FROM dropped;
        UPDATE vault_revisions SET in_window = FALSE WHERE uid = old.uid AND in_window AND revision <= v_floor;
        v_dropped_bytes := v_dropped_bytes - old.size;
        v_dropped := v_dropped - 1;
    END IF;
    UPDATE vaults SET etag = p_etag, revision = revision + 1, version = p_version, size = p_size,
                      sha256 = p_sha256, iv = p_iv, salt = p_salt, updated_at = p_now, receipt = p_receipt,
                      written_as = NULL, rename_receipt = NULL,
                      history_bytes = history_bytes - v_dropped_bytes, history_count = history_count - v_dropped
     WHERE user_id = p_user AND vault_id = p_vault
    RETURNING * INTO vault;
    PERFORM blindvault_log(vault, p_kind, p_now, p_channel, p_notice);
    outcome := 'done';
END
$$;
