"""Spawners: the KubeSpawner subclass and the embedded local backend."""
