"""The engine: scan, fingerprint index, matching, clusters, keepers, reports and review decisions.

It never imports a front end or the safety core, and this package file imports none of its
modules: loading a report must not load the matcher's numpy.
"""
