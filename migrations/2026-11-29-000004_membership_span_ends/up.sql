-- The window of recent events keeps each chat's membership spans in memory and, at every
-- load, reads only the spans that began or ended among the new events: by either end.
CREATE INDEX membership_spans_from ON membership_spans (from_event);
CREATE INDEX membership_spans_until ON membership_spans (until_event);
