-- Every answer of the compatible poll moves its session's cursor, a column no index covers.
-- With room left on each page, Postgres rewrites the row in place (a HOT update) instead of
-- adding a new entry to every index of the table: a batch of 1,000 moves took 7 to 8 ms on
-- full pages and 2 ms with half of each page free. Pages written before this migration fill
-- up as they are; sessions are short-lived, so the table turns over by itself.
ALTER TABLE sessions SET (fillfactor = 50);
