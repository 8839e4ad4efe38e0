DROP INDEX membership_spans_until;
DROP INDEX membership_spans_from;
