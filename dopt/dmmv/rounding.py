"""dmmv.round: rounding of the LP relaxation (being written)."""
