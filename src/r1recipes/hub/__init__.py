"""Sharing on the Hugging Face Hub: model and dataset cards, and the push."""
