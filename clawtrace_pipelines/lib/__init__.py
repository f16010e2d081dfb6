"""Plain (Dagster-free) pipeline logic: file discovery, bronze rules, the processed-files log."""
