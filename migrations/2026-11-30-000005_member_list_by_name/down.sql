DROP INDEX memberships_by_name;
ALTER TABLE memberships DROP COLUMN verified, DROP COLUMN admin, DROP COLUMN bot;
