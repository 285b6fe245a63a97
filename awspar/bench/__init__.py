"""``awspar bench``: the seed's comparison of seven ways to run work, reproducible offline, and
awspar's engines beside them. See :func:`run_bench`.
"""
