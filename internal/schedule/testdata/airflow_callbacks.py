"""Imports a DAG file against the stand-ins of airflow_stub/ and calls its
failure and SLA callbacks as Airflow would (export_test.go).

usage: airflow_callbacks.py DAGFILE DAG_ID INTERVAL_END_UTC (YYYY-MM-DDTHH:MM)
"""

import datetime
import runpy
import sys

import pendulum

path, dag_id, end = sys.argv[1:]
mod = runpy.run_path(path)


class TaskInstance:
    def __init__(self, dag_id):
        self.dag_id = dag_id
        self.try_number = 4


class Dag:
    def __init__(self, dag_id):
        self.dag_id = dag_id


at = datetime.datetime.strptime(end, "%Y-%m-%dT%H:%M")
context = {
    "task_instance": TaskInstance(dag_id),
    "data_interval_end": pendulum.datetime(at.year, at.month, at.day, at.hour, at.minute, tz="UTC"),
    "exception": RuntimeError("exit status 1"),
}
mod["nexus_on_failure"](context)
mod["nexus_sla_miss"](Dag(dag_id), dag_id + "\n", "", [], [])
