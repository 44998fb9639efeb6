"""Running the heavy stages (index, queries generate) on a Ray cluster: see :mod:`.ray_jobs`."""
