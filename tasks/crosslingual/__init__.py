"""Cross-lingual transfer: a task learned in one language (English), tested in others."""
