"""The execution layer: where and how runs happen, and what survives when they do not finish.

Owns one run start to finish (runner.py), a batch of runs into one invocation folder with its
summaries (batch.py), the executors behind one protocol (executors.py: in this process, or
fresh worker processes; ray_cluster.py: Ray tasks) and `--resume` (resume.py). Sits above
`train` (it trains), `doctor` (it diagnoses each run) and `runs` (it writes the folders).
"""
