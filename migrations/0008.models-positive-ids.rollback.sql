ALTER TABLE models DROP CONSTRAINT models_id_positive;
