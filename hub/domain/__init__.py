"""The hub's record rules, pure: no database, no clock, no I/O (tests/test_architecture.py).

``rules`` states every rule at its top and decides (``decide(scan, view)`` returns every
change a scan makes, alerts included); ``facts`` is what the rules read (the scan and a
typed view of the records it touches); ``changes`` is what they return, and the database
edge (hub/reconcile/writers.py) writes; ``folds`` derives values recomputed from everything
known. The edge only reads the view and writes the changes.
"""
