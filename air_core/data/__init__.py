"""Dataset adapters: each turns an on-disk layout into a manifest and a class table."""
