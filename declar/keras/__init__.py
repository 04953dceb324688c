"""The only part of declar that imports keras: generic registered classes built from a Spec."""
