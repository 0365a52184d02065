"""Improvement actions and their before/after verdict."""
