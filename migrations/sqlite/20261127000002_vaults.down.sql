-- Down: every vault's metadata goes (the objects stay under objects/: remove them by hand).
DROP TABLE pending_objects;
DROP TABLE vaults;
