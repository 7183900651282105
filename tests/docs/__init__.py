"""Tests that hold the documentation to the code: its examples run, and what it names exists."""
