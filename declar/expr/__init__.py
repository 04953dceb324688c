"""The safe expression language: parse (allow-list), evaluate (closures), ops (function table)."""
