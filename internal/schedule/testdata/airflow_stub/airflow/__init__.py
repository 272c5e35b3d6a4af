"""A stand-in for Airflow, enough to import a DAG file and call its callbacks
(export_test.go); it checks nothing of Airflow's own."""

DAGS = []


class DAG:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.dag_id = kwargs["dag_id"]
        DAGS.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
