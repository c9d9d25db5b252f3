"""Workflows: one function per CLI command, taking that command's config dataclass."""
