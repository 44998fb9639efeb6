"""The search service: an HTTP API and a web page over the index (``podseek serve``)."""
