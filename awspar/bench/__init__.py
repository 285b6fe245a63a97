"""``awspar bench``: the seed's comparison of seven ways to run work, reproducible offline, with
awspar's engines and the boto3 baselines beside them.

>>> from awspar.bench.settings import BenchSettings
>>> from awspar.bench.runner import run_bench
>>> from awspar.bench.output import to_json_dict, write_results
>>> result = run_bench(BenchSettings(workloads=("sleep",), quick=True))  # doctest: +SKIP
>>> write_results(to_json_dict(result), Path("out"))  # doctest: +SKIP

- :mod:`~awspar.bench.settings`: what to run (``BenchSettings``, the ``--quick`` preset);
- :mod:`~awspar.bench.workloads`: ``cpu``, ``sleep``, ``s3``, ``bedrock`` and their modes;
- :mod:`~awspar.bench.seedways` / :mod:`~awspar.bench.hosts` / :mod:`~awspar.bench.tasks`: the
  seed's seven ways, where a task runs, and the task itself;
- :mod:`~awspar.bench.runner`: interleaved rounds, timing, medians;
- :mod:`~awspar.bench.records` / :mod:`~awspar.bench.output`: the measurements and the
  ``bench.json`` / CSV files (the JSON layout is documented there);
- :mod:`~awspar.bench.charts`: waterfall, relative and overview charts (matplotlib, lazily).

Nothing is imported here: worker subinterpreters and spawned children import
``awspar.bench.tasks`` and must not pay for the rest.
"""
