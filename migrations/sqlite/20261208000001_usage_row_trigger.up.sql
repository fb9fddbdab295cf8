-- PostgreSQL's usage trigger on vault updates becomes row-level (see its migration of the same
-- version). SQLite's has been row-level, and limited to the counted columns, from the start:
-- nothing to change here; the version exists so that both engines' schemas are numbered alike.
SELECT 1;
