"""Collectors: each function runs one catalog query and returns plain data. Collectors only read."""
