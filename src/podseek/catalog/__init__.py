"""The episode catalog: one clean record per episode, whatever the source."""

from podseek.catalog.episode import Episode, episode_text
from podseek.catalog.store import CatalogStore

__all__ = ["CatalogStore", "Episode", "episode_text"]
