"""Default Celery beat schedules, created by data migrations and editable in the admin
(django-celery-beat "Periodic tasks"). A schedule an operator has changed is never overwritten."""


def ensure_interval_task(
    apps, *, name: str, task: str, every_seconds: int, description: str, kwargs: str = "{}"
):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = IntervalSchedule.objects.get_or_create(every=every_seconds, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=name,
        defaults={
            "task": task,
            "interval": schedule,
            "description": description,
            "kwargs": kwargs,
        },
    )


def remove_task(apps, *, name: str):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()
