"""Python access to the FreeML C runtime (see runtime.py)."""
