-- Parley relay schema: the signed tenant policy (internal/policy).
--
-- Every published version, newest first by version. The relay serves the
-- newest; it cannot read the rules' signature key and does not need to:
-- clients verify the document themselves. Older rows are kept as the
-- record of what was published when (a few hundred bytes each).
CREATE TABLE policies (
	version   BIGINT NOT NULL PRIMARY KEY,
	published BIGINT NOT NULL,
	doc       BYTEA NOT NULL
);
