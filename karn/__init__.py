"""Karn: self-hosted exit surveys and exit interviews."""
