"""Every touch of a library's private names (mteb, sentence-transformers, transformers, Ray), self-checked."""
