from airflow._task import Task


class ExternalTaskSensor(Task):
    pass
