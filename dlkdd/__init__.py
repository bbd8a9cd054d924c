"""dlkdd: human action recognition in dark video by dual-light knowledge distillation."""

__version__ = "0.1.0"
