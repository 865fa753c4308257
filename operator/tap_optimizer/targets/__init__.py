"""Targets a plan changes, and how to tell they have caught up: one adapter per kind (the
TapPlatform and the managed resources it composes), pure, reading only the objects given."""
