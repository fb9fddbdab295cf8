-- Down: failures lose their attempt ids (the older binary counts them as it did).
ALTER TABLE login_failures DROP COLUMN attempt;
