"""dmmv.local: the fast local search (being written)."""
