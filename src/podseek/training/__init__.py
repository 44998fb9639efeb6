"""Fine-tuning: adapt an encoder to the catalog with its query-episode pairs."""
