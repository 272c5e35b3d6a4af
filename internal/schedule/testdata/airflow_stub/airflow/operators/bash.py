from airflow._task import Task


class BashOperator(Task):
    pass
