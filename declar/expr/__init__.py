"""The safe expression language: parse (allow-list), program (let names), evaluate (closures), ops (function table)."""
