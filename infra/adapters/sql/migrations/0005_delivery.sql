-- Artifacts and delivery (docs/DOMAIN.md, "Artifacts"). The catalog keeps
-- where each manifest's uploaded artifact is in the artifact store: NULL
-- until manifest.artifact_stored. No chain recorded before this migration
-- holds that event, so NULL in every existing row is what a rebuild would
-- fold, and the catalog projection keeps its version.
ALTER TABLE catalog_manifests ADD COLUMN artifact_object_key text;
