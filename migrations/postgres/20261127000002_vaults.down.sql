-- Down: every vault's metadata goes (the objects stay in the bucket: remove the prefix by hand).
DROP TABLE pending_objects;
DROP TABLE vaults;
