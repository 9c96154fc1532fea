"""dmmv.milp: the exact MILP solved by HiGHS (being written)."""
