"""Vector + keyword indexes behind one ``SearchBackend`` interface (LanceDB embedded)."""
