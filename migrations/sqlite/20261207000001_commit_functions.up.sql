-- PostgreSQL gains functions that commit a write in one round trip (see its migration of the
-- same version). SQLite runs in-process, where a round trip costs nothing: nothing to add here;
-- the version exists so that both engines' schemas are numbered alike.
SELECT 1;
