"""Curation: duplicates and leakage, label errors, embeddings, uniqueness, active learning."""
