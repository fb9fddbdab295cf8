-- Each password attempt is counted as a failure before it is checked, and taken back if it
-- succeeds or could not be checked. Attempts made in the same millisecond must not take each
-- other back, so every row carries the id of its attempt (NULL for rows from before).
ALTER TABLE login_failures ADD COLUMN attempt BLOB;
