-- PostgreSQL's 0013 moves the indexes that read an event's processing state into a
-- narrow table of their own, so that marking an event processed is a HOT update there.
-- SQLite needs no such table: an UPDATE rewrites only the indexes whose columns it
-- changes, so the inbox's other indexes are not touched when an event is processed.
-- Nothing changes here; the number is kept in step with PostgreSQL's.
SELECT 1;
