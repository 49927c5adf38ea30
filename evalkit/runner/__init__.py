"""Running a suite: the suite schema and settings, the plan, the task loop, and where a task runs.

Named `runner` rather than `run` so that `evalkit.run` stays the public function.
"""
