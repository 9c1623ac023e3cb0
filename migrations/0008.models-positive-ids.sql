-- The rollups file requests without a model under model_id 0, so a model with id 0
-- would be merged with the unattributed requests (and with any id <= 0 the sentinel
-- is no longer safe to extend). Ids come from a sequence starting at 1; keep them there.
-- depends: 0007.roles

ALTER TABLE models ADD CONSTRAINT models_id_positive CHECK (id > 0);
