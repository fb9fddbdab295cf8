-- PostgreSQL's usage trigger on vault updates becomes row-level, and its login_failures table
-- is vacuumed more often (see its migration of the same version). SQLite's trigger has been
-- row-level, limited to the counted columns, from the start, and SQLite has no autovacuum of
-- dead rows to tune: nothing to change here; the version exists so that both engines' schemas are numbered alike.
SELECT 1;
