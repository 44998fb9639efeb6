"""Synthetic queries: the searches a listener might type for each episode (doc2query style).

With no search logs, the encoder learns a catalog from (query, episode) pairs that a model
writes: :mod:`podseek.queries.generators` holds the generators behind
``podseek queries generate`` (Gemma-3-270M with few-shot prompts from
:mod:`podseek.queries.prompts`, any local doc2query seq2seq folder, or the episode title).
"""
