"""Models: loading for the stage runners, and the offline models for tests and the demo."""
