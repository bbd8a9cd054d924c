"""`dlkdd watch`: a model's sliding windows over long recordings and live streams (timeline, events,
alerts, annotated video)."""

from dlkdd.watch.pipeline import Summary, WatchOptions, watch

__all__ = ["Summary", "WatchOptions", "watch"]
