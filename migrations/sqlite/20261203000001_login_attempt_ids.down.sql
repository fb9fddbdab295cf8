-- Down: failures lose their attempt ids.
ALTER TABLE login_failures DROP COLUMN attempt;
