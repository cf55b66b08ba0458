"""Bulk matching of a corpus (`disinfodb scan`): corpus.py reads and shards it, worker.py
matches a shard, engines.py runs the shards (a process pool or Ray), output.py writes
the parts and the output, job.py ties them together and resumes after a crash."""

from disinfodb.scan.corpus import SHARD_SIZE, Corpus, Shard
from disinfodb.scan.job import ScanJob, ScanSummary
from disinfodb.scan.output import read_rows
from disinfodb.scan.worker import BATCH, ShardMatcher, ShardResult

__all__ = ["BATCH", "SHARD_SIZE", "Corpus", "ScanJob", "ScanSummary", "Shard", "ShardMatcher", "ShardResult",
           "read_rows"]
