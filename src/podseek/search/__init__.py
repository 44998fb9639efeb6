"""Search: query encoding, semantic / keyword / hybrid retrieval, filters, snippets."""
