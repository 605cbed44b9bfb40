"""Lottery tickets: three claims on one shared IMP run set (run_set.py), read through accuracies.py."""
